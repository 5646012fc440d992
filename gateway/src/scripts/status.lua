-- Polls of any number of tickets: each ticket's place, and proof that its
-- holder is still there.
-- ARGV: 1 now_ms, 2 idle timeout ms, 3.. ticket ids
-- Returns one reply per ticket, in order: queue_status, or {'n', 'idle'}
-- when the ticket just timed out, each encoded as one string.
local now = tonumber(ARGV[1])
local tickets = {}
for i = 3, #ARGV do tickets[#tickets + 1] = ARGV[i] end
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
local waiting = {}
for i, ticket in ipairs(tickets) do
  if idle[i] then
    replies[i] = 'n idle'
  else
    local status = queue_status(ticket, now)
    if status[1] == 'w' then waiting[#waiting + 1] = ticket end
    replies[i] = encode(status)
  end
end
mark_seen(waiting, ARGV[1])
return replies
