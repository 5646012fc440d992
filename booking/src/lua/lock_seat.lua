-- Take a seat for a reservation if nobody holds it, and, when it was taken,
-- give the schedule's seat map a new version in the same step.
--
-- KEYS[1]  the seat lock, {prefix}:{s:<schedule_id>}:seat:<seat_number>
-- KEYS[2]  the schedule's seat-map version, {prefix}:{s:<schedule_id>}:seats-version
-- ARGV[1]  the reservation id to store in the lock
-- ARGV[2]  the lock's lifetime in ms (the hold time)
-- ARGV[3]  the new version (a fresh UUID)
-- ARGV[4]  the version's lifetime in ms
--
-- The lock is the first-come gate: `SET NX PX`, nothing else decides who
-- wins. The version changes with it so that a seat map cached under the old
-- version is never used once the lock exists: a replica reads a schedule's
-- locks only when it loads the map, and a lock taken since then always comes
-- with a version it has not seen (booking's `seats::snapshot`).
--
-- Returns 1 when the seat was taken for ARGV[1], 0 when someone holds it.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return 1
end
return 0
