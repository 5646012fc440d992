-- Put back an active session that Redis lost (Postgres's queue_sessions
-- says it is live: neither paid nor left, not over), so the access token
-- keeps working and the session counts against max_active again.
-- KEYS: 1 the concert's active set, 2 its user id → ticket id hash (same hash tag).
-- ARGV: 1 ticket id, 2 user id, 3 end of the session (Unix ms).
redis.call('ZADD', KEYS[1], 'NX', ARGV[3], ARGV[1])
if not redis.call('HGET', KEYS[2], ARGV[2]) then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
end
return 1
