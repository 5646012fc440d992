-- One admission tick of one concert: end expired sessions, drop idle
-- waiters, draw the pre-queue when its opening has come, admit min(admit_per_tick, max_active - active) from the head.
--
-- Exactly once per tick number, however many gateways run it: the last tick
-- number done is stored in KEYS[8] and a tick that is not newer does nothing.
-- Everything happens in this one script, so no two gateways can pop the same
-- users (the ZRANGE-then-ZREM race of two-step implementations cannot occur).
--
-- ARGV: 1 tick number, 2 now_ms, 3 default admit_per_tick, 4 default max_active,
--       5 active ttl ms, 6 idle timeout ms, 7 batch limit, 8 rate window ms, 9 tick ms
-- Returns {ran (0/1), admitted, sessions ended, idle dropped, waiting, active,
--          admitted in the rate window, rate window ms, paused (0/1), max_active,
--          admit_per_tick, then per admitted user: ticket id, user id}
-- (the session end is now + active ttl), or {-1} when the queue was lost
-- (nothing changed, the tick number is not used up).
if not current_epoch() then return {-1} end
local tick = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[8]) or '-1')
if tick <= last then
  return {0, 0, 0, 0, 0, 0}
end
redis.call('SET', KEYS[8], tick)
local now, batch = tonumber(ARGV[2]), tonumber(ARGV[7])

local ended = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, batch)
for _, ticket in ipairs(ended) do forget(ticket) end

local idle = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - tonumber(ARGV[6])), 'LIMIT', 0, batch)
for _, ticket in ipairs(idle) do forget(ticket) end

-- Before the opening nobody is admitted; at it, the pre-queue is drawn
-- (even while paused). Sold out, nobody is admitted and the line is dropped.
local sched = schedule(now)
local held_back = sched[1] or sched[5]
if sched[5] then
  local rest = redis.call('ZRANGE', KEYS[2], 0, batch - 1)
  for _, ticket in ipairs(rest) do forget(ticket) end
end

local config = redis.call('HMGET', KEYS[7], 'paused', 'admit_per_tick', 'max_active')
local paused = config[1] == '1'
local per_tick = tonumber(config[2] or ARGV[3])
local max_active = tonumber(config[3] or ARGV[4])
local waiting_before = redis.call('ZCARD', KEYS[2])
local admitted, sessions = 0, {}
-- Right after a data loss, only tickets issued before it are admitted for a
-- while (see restore.lua).
local resume = redis.call('HMGET', KEYS[7], 'resume_seq', 'resume_until')
local below = resume[2] and tonumber(resume[2]) > now and resume[1]
if not paused and not held_back and waiting_before > 0 then
  local n = math.min(per_tick, max_active - redis.call('ZCARD', KEYS[3]))
  if n > 0 then
    -- Numbers are formatted once: Redis and Lua format doubles slowly, so
    -- the head is read without its scores (not ZPOPMIN) and the session end
    -- is one string.
    local ends = string.format('%d', now + tonumber(ARGV[5]))
    local popped
    if below then
      popped = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. below, 'LIMIT', 0, n)
    else
      popped = redis.call('ZRANGE', KEYS[2], 0, n - 1)
    end
    -- Either way the popped users are the head of the line.
    if #popped > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, #popped - 1) end
    -- One ZADD and one ZREM per chunk of users instead of one per user
    -- (chunks stay well inside Lua's limit on unpacked arguments).
    local chunk = 500
    for first = 1, #popped, chunk do
      local scored, members = {}, {}
      for i = first, math.min(first + chunk - 1, #popped) do
        scored[#scored + 1] = ends
        scored[#scored + 1] = popped[i]
        members[#members + 1] = popped[i]
      end
      redis.call('ZADD', KEYS[3], unpack(scored))
      redis.call('ZREM', KEYS[4], unpack(members))
      -- Who was admitted, for the copy of the sessions in Postgres.
      local users = redis.call('HMGET', KEYS[6], unpack(members))
      for i, ticket in ipairs(members) do
        sessions[#sessions + 1] = ticket
        sessions[#sessions + 1] = users[i] or ''
      end
      admitted = admitted + #members
    end
  end
  -- The admission rate is measured over ticks that had someone to admit
  -- (a paused or empty queue says nothing about how fast the line moves).
  redis.call('ZADD', KEYS[9], now, tick .. ':' .. admitted)
  redis.call('HINCRBY', KEYS[10], 'admitted_last_minute', admitted)
end
local horizon = now - tonumber(ARGV[8])
local old = redis.call('ZRANGEBYSCORE', KEYS[9], '-inf', '(' .. horizon)
if #old > 0 then
  local gone = 0
  for _, entry in ipairs(old) do gone = gone + tonumber(string.match(entry, ':(%d+)$')) end
  -- (not `-gone`: for 0 Lua would send "-0", which HINCRBY refuses)
  if gone > 0 then redis.call('HINCRBY', KEYS[10], 'admitted_last_minute', 0 - gone) end
  redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', '(' .. horizon)
end
local oldest = redis.call('ZRANGE', KEYS[9], 0, 0, 'WITHSCORES')
local window = 0
if oldest[2] then window = now - tonumber(oldest[2]) + tonumber(ARGV[9]) end
-- The spread of the rate, for `eta_range_seconds` (gateway/src/queue/eta.rs):
-- how many ticks the window holds and the sum of squares of what each
-- admitted. Recounted from the window's entries (at most one per tick of
-- the last minute), so it cannot drift from them.
local entries = redis.call('ZRANGE', KEYS[9], 0, -1)
local squares = 0
for _, entry in ipairs(entries) do
  local a = tonumber(string.match(entry, ':(%d+)$'))
  squares = squares + a * a
end
redis.call('HSET', KEYS[10], 'window_ms', window, 'ticks', #entries,
           'admitted_sq', string.format('%d', squares))
local in_window = tonumber(redis.call('HGET', KEYS[10], 'admitted_last_minute') or '0')
local reply = {1, admitted, #ended, #idle, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]),
               in_window, window, paused and 1 or 0, max_active, per_tick}
for _, v in ipairs(sessions) do reply[#reply + 1] = v end
return reply
