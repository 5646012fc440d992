-- Count a login attempt of one user id against its failure budget, before
-- the password is checked (so concurrent guesses cannot all slip past the
-- limit); a successful login gives its attempt back (login_forgive.lua).
-- The window slides: the set holds one member per attempt, scored by its
-- time on Redis's clock, so "10 per 15 minutes" holds over any 15 minutes.
-- KEYS: 1 the user id's attempts (sorted set). ARGV: 1 limit, 2 window in
-- ms, 3 this attempt's id.
-- Returns 0 when the attempt may go ahead, else the ms until it may.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
