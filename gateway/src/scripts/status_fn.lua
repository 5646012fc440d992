-- Shared by the scripts (prepended when they are built).
-- KEYS: 1 seq, 2 waiting, 3 active, 4 seen, 5 users, 6 tickets,
--       7 config, 8 tick, 9 admits, 10 stats, 11 epoch
--       (all under one {c:<id>} hash tag)

-- The queue's epoch, or nil when Redis lost the queue: then every script
-- but restore.lua answers 'x' and changes nothing, and the gateway rebuilds
-- the queue from Postgres first (gateway/src/recovery.rs).
local function current_epoch()
  return redis.call('GET', KEYS[11])
end

-- One 'x' ("lost") reply per request of a batch.
local function lost(n)
  local replies = {}
  for i = 1, n do replies[i] = 'x' end
  return replies
end

-- The next join sequence number: one more than the last, and never below
-- now_ms * 1000, so the joins after a data loss (which lost the counter)
-- queue behind every ticket issued before it, whose numbers the tickets
-- carry (`seq`). Formatted with %d: Lua would print large numbers as 1e+15.
local function next_seqs(count, now)
  local last = tonumber(redis.call('GET', KEYS[1]) or '0')
  local floor = now * 1000
  if last < floor then last = floor end
  redis.call('SET', KEYS[1], string.format('%d', last + count))
  return last
end

-- What every waiting ticket's status repeats (see `line`); anything that
-- changes the line clears it.
local line_cache = nil

-- Forget a ticket everywhere. The user mapping is removed only if it still
-- points at this ticket (a newer ticket of the same user is left alone).
local function forget(ticket)
  line_cache = nil
  redis.call('ZREM', KEYS[2], ticket)
  redis.call('ZREM', KEYS[3], ticket)
  redis.call('ZREM', KEYS[4], ticket)
  local user = redis.call('HGET', KEYS[6], ticket)
  if user then
    if redis.call('HGET', KEYS[5], user) == ticket then
      redis.call('HDEL', KEYS[5], user)
    end
    redis.call('HDEL', KEYS[6], ticket)
  end
end

-- The scheduled opening and sold-out state of the queue, read once per
-- script call (config fields `opens_at` ms, `drawn`, `draw_base`,
-- `draw_commitment`, `sold_out`, set from Postgres's `queue_settings` and
-- the ticker's seat count). When `opens_at` has come and the pre-queue is
-- not drawn yet, this draws it, whichever script gets there first: the
-- order was fixed at join (scores from `draw_base` up, see
-- gateway/src/draw.rs), so the draw is one step, `drawn` = 1 and the join
-- counter moved past every pre-queue score, so later joins queue behind.
-- Returns {pre (true while before the opening), base, opens_at, commitment, sold}.
local span = 2251799813685248 -- 2^51, gateway/src/draw.rs DRAW_SPAN
local schedule_cache = nil
local function schedule(now)
  if not schedule_cache then
    local c = redis.call('HMGET', KEYS[7], 'opens_at', 'drawn', 'draw_base', 'draw_commitment', 'sold_out')
    local opens_at, base = tonumber(c[1] or ''), tonumber(c[3] or '')
    local pre = false
    if opens_at and base and c[2] ~= '1' then
      if now < opens_at then
        pre = true
      else
        redis.call('HSET', KEYS[7], 'drawn', '1')
        local last = tonumber(redis.call('GET', KEYS[1]) or '0')
        if last < base + span then
          redis.call('SET', KEYS[1], string.format('%d', base + span))
        end
      end
    end
    schedule_cache = {pre, base, c[1], c[4], c[5] == '1'}
  end
  return schedule_cache
end

-- What every waiting ticket's status repeats (line length, pause, measured
-- rate), read once per script call; anything that changes the line clears it.
local function line()
  if not line_cache then
    local stats = redis.call('HMGET', KEYS[10], 'admitted_last_minute', 'window_ms', 'ticks', 'admitted_sq')
    local config = redis.call('HMGET', KEYS[7], 'paused', 'seats_available')
    line_cache = {redis.call('ZCARD', KEYS[2]), config[1] or '0',
                  tonumber(stats[1] or '0'), tonumber(stats[2] or '0'), config[2] or '-',
                  stats[3] or '0', stats[4] or '0'}
  end
  return line_cache
end

-- Returns the place of `ticket`:
--   {'w', position, waiting, paused, admitted_last_minute, window_ms, seats_available,
--    ticks in the rate window, sum of squares of their admissions}
--   {'p', opens_at, draw_commitment}  in the pre-queue (before the opening)
--   {'a', session_end_ms, epoch}
--   {'s'}                       sold out: a waiting or pre-queue ticket is dropped
--   {'n'}                       when the ticket holds no place
local function queue_status(ticket, now)
  local rank = redis.call('ZRANK', KEYS[2], ticket)
  if rank then
    local s = schedule(now)
    if s[5] then
      forget(ticket)
      return {'s'}
    end
    if s[1] and tonumber(redis.call('ZSCORE', KEYS[2], ticket)) >= s[2] then
      return {'p', s[3], s[4]}
    end
    local l = line()
    return {'w', rank + 1, l[1], l[2], l[3], l[4], l[5], l[6], l[7]}
  end
  local ends = redis.call('ZSCORE', KEYS[3], ticket)
  if ends and tonumber(ends) > now then
    return {'a', ends, current_epoch()}
  end
  if schedule(now)[5] then return {'s'} end
  return {'n'}
end

-- A status as one line of text, the reply format of polls and joins (one
-- bulk string per request is far cheaper to build and parse than an array):
--   'w <position> <waiting> <paused 0/1> <admitted_last_minute> <window_ms> <seats_available or ->
--      <ticks> <admitted_sq>'
--   'p <opens_at_ms> <draw_commitment>', 'a <session_end_ms> <epoch>', 's',
--   'n', 'n idle', or 'x' (the queue was lost)
local function encode(status)
  if status[1] == 'w' then
    return string.format('w %d %d %s %d %d %s %s %s', status[2], status[3], status[4], status[5], status[6],
                         status[7], status[8], status[9])
  end
  return table.concat(status, ' ')
end

-- Record that the holders of `tickets` (all waiting) are still there.
-- `now` is passed as the caller's string: formatting a Lua number costs more
-- than the whole ZADD.
local function mark_seen(tickets, now)
  if #tickets > 0 then
    local args = {}
    for i, ticket in ipairs(tickets) do
      args[2 * i - 1] = now
      args[2 * i] = ticket
    end
    redis.call('ZADD', KEYS[4], unpack(args))
  end
end

-- Put back a ticket of an earlier epoch (its place was lost with Redis) at
-- its join sequence number `seq`, so it stands where it stood relative to
-- every other ticket. A newer ticket of the same user that is waiting is
-- dropped (the user keeps the older, better place); one that is active
-- wins, and the old ticket stays gone. Returns whether it was put back.
local function restore_waiting(ticket, user, seq)
  local current = redis.call('HGET', KEYS[5], user)
  if current and current ~= ticket then
    if redis.call('ZSCORE', KEYS[3], current) then return false end
    forget(current)
  end
  redis.call('ZADD', KEYS[2], 'NX', seq, ticket)
  redis.call('HSET', KEYS[5], user, ticket)
  redis.call('HSET', KEYS[6], ticket, user)
  -- The counter never goes back below a number already handed out.
  if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(seq) then
    redis.call('SET', KEYS[1], seq)
  end
  line_cache = nil
  return true
end
