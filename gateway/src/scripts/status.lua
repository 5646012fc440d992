-- A poll: the ticket's place, and proof that its holder is still there.
-- ARGV: 1 ticket, 2 now_ms, 3 idle timeout ms
-- Returns queue_status, or {'n', 'idle'} when the ticket just timed out.
local now = tonumber(ARGV[2])
local seen = redis.call('ZSCORE', KEYS[4], ARGV[1])
if seen and tonumber(seen) < now - tonumber(ARGV[3]) then
  -- Idle past the timeout but not yet swept by the ticker: drop it now, so
  -- the answer does not depend on when the ticker last ran.
  forget(ARGV[1])
  return {'n', 'idle'}
end
local status = queue_status(ARGV[1], now)
if status[1] == 'w' then
  redis.call('ZADD', KEYS[4], now, ARGV[1])
end
return status
