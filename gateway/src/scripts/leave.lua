-- Leave: free the place in the queue or the active slot.
-- ARGV: 1 ticket, 2 now_ms, 3 the ticket's epoch ('' if it has none).
-- Returns 'w', 'a' or 'n' (what was freed); 'x' when the queue was lost.
-- A ticket of an earlier epoch without a place lost it with Redis: it is
-- answered as freed ('w'), not as unknown.
local epoch = current_epoch()
if not epoch then return 'x' end
local status = queue_status(ARGV[1], tonumber(ARGV[2]))
forget(ARGV[1])
if status[1] == 'n' and ARGV[3] ~= '' and ARGV[3] ~= epoch then return 'w' end
return status[1]
