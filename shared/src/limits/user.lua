-- One write of one user against its budget (API.md, Limits): GCRA, the
-- leaky bucket as a single timestamp. The key holds the user's theoretical
-- arrival time (TAT) in microseconds of Redis's clock, so every replica
-- counts against the same budget and clocks of the replicas do not matter.
-- KEYS: 1 the user's TAT. ARGV: 1 emission interval in microseconds
-- (a minute / the budget), 2 burst (writes usable at once).
-- Returns 0 when the write may go ahead, else the microseconds until one may.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local allowed_at = tat - tolerance
if now < allowed_at then
  return allowed_at - now
end
local next_tat = tat + interval
-- The key lives until the budget has refilled, then it is as good as absent.
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return 0
