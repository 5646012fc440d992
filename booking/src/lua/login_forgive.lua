-- A login succeeded: take back the attempt it counted.
-- KEYS: 1 the user id's attempts. ARGV: 1 the attempt's id.
return redis.call('ZREM', KEYS[1], ARGV[1])
