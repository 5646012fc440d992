-- Release a seat lock only if it still belongs to the reservation that took it.
--
-- KEYS[1]  the seat lock, {prefix}:{s:<schedule_id>}:seat:<seat_number>
-- ARGV[1]  the reservation id stored in it
--
-- Returns 1 when the lock was deleted, 0 when it had expired or belongs to
-- another reservation (whose lock must survive).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
