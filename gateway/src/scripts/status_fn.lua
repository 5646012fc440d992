-- Shared by join.lua and status.lua (prepended when the scripts are built).
-- KEYS: 1 seq, 2 waiting, 3 active, 4 seen, 5 users, 6 tickets,
--       7 config, 8 tick, 9 admits, 10 stats  (all under one {c:<id>} hash tag)
--
-- Returns the place of `ticket`:
--   {'w', position, waiting, paused, admitted_last_minute, window_ms}
--   {'a', session_end_ms}
--   {'n'}                       when the ticket holds no place
local function queue_status(ticket, now)
  local rank = redis.call('ZRANK', KEYS[2], ticket)
  if rank then
    local stats = redis.call('HMGET', KEYS[10], 'admitted_last_minute', 'window_ms')
    return {'w', rank + 1, redis.call('ZCARD', KEYS[2]),
            redis.call('HGET', KEYS[7], 'paused') or '0',
            tonumber(stats[1] or '0'), tonumber(stats[2] or '0')}
  end
  local ends = redis.call('ZSCORE', KEYS[3], ticket)
  if ends and tonumber(ends) > now then
    return {'a', ends}
  end
  return {'n'}
end

-- Forget a ticket everywhere. The user mapping is removed only if it still
-- points at this ticket (a newer ticket of the same user is left alone).
local function forget(ticket)
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
