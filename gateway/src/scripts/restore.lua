-- Rebuild a concert's queue after Redis lost it (or build it the first
-- time), from what Postgres keeps: the operator's settings and the live
-- sessions. Only the first caller of an epoch does anything: when the epoch
-- key exists this returns 0 at once, so gateways that notice the loss
-- together rebuild it once.
-- ARGV: 1 new epoch, 2 now_ms, 3 paused (0/1), 4 admit_per_tick, 5 max_active
--       ('' = the configured default), 6 end of the window in which tickets of
--       earlier epochs are put back (ms), 7 end of the window in which only
--       tickets issued before the loss are admitted (ms), 8 opens_at (ms),
--       9 draw_base, 10 draw_seed, 11 draw_commitment ('' for all four when
--       the queue has no scheduled opening), 12 sold out (0/1), then per
--       live session: ticket id, user id, session end (ms)
-- Returns 1 when it rebuilt the queue, 0 when another caller already had.
if current_epoch() then return 0 end
local now = tonumber(ARGV[2])
redis.call('DEL', KEYS[7])
local config = {'paused', ARGV[3]}
if ARGV[4] ~= '' then config[#config + 1] = 'admit_per_tick'; config[#config + 1] = ARGV[4] end
if ARGV[5] ~= '' then config[#config + 1] = 'max_active'; config[#config + 1] = ARGV[5] end
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[7], 'opens_at', ARGV[8], 'draw_base', ARGV[9],
             'draw_seed', ARGV[10], 'draw_commitment', ARGV[11])
end
redis.call('HSET', KEYS[7], 'sold_out', ARGV[12])
-- An opening that has come is drawn now (the order is in the tickets'
-- numbers), so joins from here on queue behind the pre-queue.
local sched = schedule(now)
-- Joins from now on get numbers from here up; every ticket issued before
-- carries a lower one. Until `resume_until`, ticks admit only those, so a
-- waiter who polls a little late is not overtaken by someone who joined
-- after the loss.
local first_new = next_seqs(0, now) + 1
-- Pre-queue tickets (numbered from draw_base) count as issued before.
if sched[2] and first_new < sched[2] + span then first_new = sched[2] + span end
config[#config + 1] = 'resume_seq'; config[#config + 1] = string.format('%d', first_new)
config[#config + 1] = 'resume_until'; config[#config + 1] = ARGV[7]
config[#config + 1] = 'restore_until'; config[#config + 1] = ARGV[6]
redis.call('HSET', KEYS[7], unpack(config))
-- Live sessions count against max_active again, and their access tokens
-- keep working at booking.
for i = 13, #ARGV, 3 do
  local ticket, user, ends = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('ZREM', KEYS[2], ticket)
  redis.call('ZREM', KEYS[4], ticket)
  redis.call('ZADD', KEYS[3], ends, ticket)
  if not redis.call('HGET', KEYS[5], user) then redis.call('HSET', KEYS[5], user, ticket) end
  redis.call('HSET', KEYS[6], ticket, user)
end
redis.call('SET', KEYS[11], ARGV[1])
return 1
