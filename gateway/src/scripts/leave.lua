-- Leave: free the place in the queue or the active slot.
-- ARGV: 1 ticket, 2 now_ms. Returns 'w', 'a' or 'n' (what was freed).
local status = queue_status(ARGV[1], tonumber(ARGV[2]))
forget(ARGV[1])
return status[1]
