-- End a user's active session of one concert, after a payment: whether the
-- user paid with the access token or with a session token, the ticket they
-- hold in that concert's queue leaves the active set.
-- KEYS: 1 the concert's active set, 2 its user id → ticket id hash (same hash tag).
-- ARGV: 1 user id, 2 the ticket id of the access token used ('' if none).
-- Returns the ticket ids removed from the active set.
local removed = {}
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held and redis.call('ZREM', KEYS[1], held) == 1 then
  removed[#removed + 1] = held
end
if ARGV[2] ~= '' and ARGV[2] ~= held and redis.call('ZREM', KEYS[1], ARGV[2]) == 1 then
  removed[#removed + 1] = ARGV[2]
end
return removed
