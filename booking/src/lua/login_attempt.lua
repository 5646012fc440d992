-- Count a login attempt of one user id against its failure budget, before
-- the password is checked (so concurrent guesses cannot all slip past the
-- limit); a successful login gives its count back (login_forgive.lua).
-- KEYS: 1 the user id's failure counter. ARGV: 1 limit, 2 window in ms.
-- Returns 0 when the attempt may go ahead, else the ms until it may.
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then return ttl end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(ARGV[2])
end
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
