-- Release a seat lock only if it still belongs to the reservation that took
-- it, after giving the schedule's seat map a new version (the seat's hold has
-- just ended in Postgres: a release, a payment or a failed hold).
--
-- KEYS[1]  the seat lock, {prefix}:{s:<schedule_id>}:seat:<seat_number>
-- KEYS[2]  the schedule's seat-map version, {prefix}:{s:<schedule_id>}:seats-version
-- ARGV[1]  the reservation id stored in the lock
-- ARGV[2]  the new version (a fresh UUID)
-- ARGV[3]  the version's lifetime in ms
--
-- Both keys change in one step, so a reader never sees the lock gone while
-- the version is still the old one (which could let a cached map show a seat
-- sold a moment ago as a hold that has just timed out: `available`).
--
-- Returns 1 when the lock was deleted, 0 when it had expired or belongs to
-- another reservation (whose lock must survive).
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
