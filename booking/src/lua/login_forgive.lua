-- A login succeeded: take back the count its attempt added.
-- KEYS: 1 the user id's failure counter.
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
