-- Every live seat lock of one schedule with the time it has left, read when a
-- booking replica loads the schedule's seat map (booking's `seats::snapshot`).
--
-- KEYS[n]  the lock of seat n, {prefix}:{s:<schedule_id>}:seat:<n>, for every
--          seat of the schedule in order (all in the schedule's slot)
--
-- Returns a flat array of (seat number, reservation id, ms to live) for each
-- seat that has a lock.
local out = {}
for n, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner then
    out[#out + 1] = n
    out[#out + 1] = owner
    out[#out + 1] = redis.call('PTTL', key)
  end
end
return out
