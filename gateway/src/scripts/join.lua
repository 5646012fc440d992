-- Join the queue, atomically: a user has at most one ticket per concert, and
-- joining again returns the same ticket and place.
-- ARGV: 1 user_id, 2 new ticket id (used only if the user has none), 3 now_ms
-- Returns {ticket, created (1/0), status...} with status as in queue_status.
local now = tonumber(ARGV[3])
local existing = redis.call('HGET', KEYS[5], ARGV[1])
if existing then
  local status = queue_status(existing, now)
  if status[1] ~= 'n' then
    if status[1] == 'w' then
      redis.call('ZADD', KEYS[4], now, existing)
    end
    return {existing, 0, unpack(status)}
  end
  -- The old ticket lost its place (left, idle, session over): start afresh.
  forget(existing)
end
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, ARGV[2])
redis.call('ZADD', KEYS[4], now, ARGV[2])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[6], ARGV[2], ARGV[1])
return {ARGV[2], 1, unpack(queue_status(ARGV[2], now))}
