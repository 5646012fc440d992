-- Polls of any number of tickets: each ticket's place, and proof that its
-- holder is still there.
-- ARGV: 1 now_ms, 2 idle timeout ms, then per ticket: ticket id, user id,
--       the ticket's epoch and join sequence number ('' when it has none)
-- Returns one reply per ticket, in order: queue_status, or {'n', 'idle'}
-- when the ticket just timed out, each encoded as one string; 'x' for each
-- when the queue was lost (nothing changed).
local epoch = current_epoch()
if not epoch then return lost((#ARGV - 2) / 4) end
local now = tonumber(ARGV[1])
local tickets, users, epochs, seqs = {}, {}, {}, {}
for i = 3, #ARGV, 4 do
  tickets[#tickets + 1] = ARGV[i]
  users[#users + 1] = ARGV[i + 1]
  epochs[#epochs + 1] = ARGV[i + 2]
  seqs[#seqs + 1] = ARGV[i + 3]
end
-- A ticket was last seen before `now - idle timeout` exactly when its rank
-- in `seen` (ordered by that time) is below the number of such tickets.
-- Ranks are integers: reading the scores would format a double for each.
local idle_count = redis.call('ZCOUNT', KEYS[4], '-inf', '(' .. string.format('%d', now - tonumber(ARGV[2])))
local replies, idle = {}, {}
-- All ranks first: forgetting a ticket moves everyone after it down a rank.
for i, ticket in ipairs(tickets) do
  local rank = idle_count > 0 and redis.call('ZRANK', KEYS[4], ticket)
  idle[i] = rank and rank < idle_count
end
for i, ticket in ipairs(tickets) do
  if idle[i] then
    -- Idle past the timeout but not yet swept by the ticker: drop it now, so
    -- the answer does not depend on when the ticker last ran.
    forget(ticket)
  end
end
-- Tickets of an earlier epoch are put back only for an idle timeout after
-- the queue was rebuilt: a waiter still there polls within that time, and
-- later a ticket would have been dropped for idling anyway.
local restore_until = nil
local function restorable()
  if not restore_until then
    restore_until = tonumber(redis.call('HGET', KEYS[7], 'restore_until') or '0')
  end
  return now < restore_until
end
local waiting = {}
for i, ticket in ipairs(tickets) do
  if idle[i] then
    replies[i] = 'n idle'
  else
    local status = queue_status(ticket, now)
    if status[1] == 'n' and seqs[i] ~= '' and epochs[i] ~= '' and epochs[i] ~= epoch
        and restorable() and restore_waiting(ticket, users[i], seqs[i]) then
      -- Issued before Redis lost the queue: back at its place.
      status = queue_status(ticket, now)
    end
    if status[1] == 'w' or status[1] == 'p' then waiting[#waiting + 1] = ticket end
    replies[i] = encode(status)
  end
end
mark_seen(waiting, ARGV[1])
return replies
