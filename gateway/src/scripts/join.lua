-- Joins of any number of users, atomically: a user has at most one ticket
-- per concert, and joining again returns the same ticket and place.
-- ARGV: 1 now_ms, then pairs: user id, new ticket id (used only if the user
-- has no place yet)
-- Returns one reply per pair, in order:
-- '<ticket> <created 1/0> <epoch> <seq, 0 when not waiting> <status>' with the
-- status encoded as in status.lua; 'x' for each when the queue was lost.
local epoch = current_epoch()
if not epoch then return lost((#ARGV - 1) / 2) end
local now = tonumber(ARGV[1])
local users, fresh = {}, {}
for i = 2, #ARGV, 2 do
  users[#users + 1] = ARGV[i]
  fresh[#fresh + 1] = ARGV[i + 1]
end
local existing = redis.call('HMGET', KEYS[5], unpack(users))
local ticket_of, created, seq_of = {}, {}, {}
local new_members, new_users, new_tickets = {}, {}, {}
for i, user in ipairs(users) do
  local ticket = ticket_of[user]       -- the same user twice in this call
  if not ticket then
    ticket = existing[i]
    if ticket and queue_status(ticket, now)[1] == 'n' then
      -- The old ticket lost its place (left, idle, session over): start afresh.
      forget(ticket)
      ticket = nil
    end
    if not ticket then
      ticket = fresh[i]
      created[i] = true
      new_members[#new_members + 1] = ticket
      new_users[#new_users + 1] = user
      new_users[#new_users + 1] = ticket
      new_tickets[#new_tickets + 1] = ticket
      new_tickets[#new_tickets + 1] = user
    end
    ticket_of[user] = ticket
  end
end
if #new_members > 0 then
  -- Sequence numbers in arrival order: FIFO has no ties.
  local last = next_seqs(#new_members, now)
  local args = {}
  for i, ticket in ipairs(new_members) do
    local seq = string.format('%d', last + i)
    seq_of[ticket] = seq
    args[2 * i - 1] = seq
    args[2 * i] = ticket
  end
  redis.call('ZADD', KEYS[2], unpack(args))
  redis.call('HSET', KEYS[5], unpack(new_users))
  redis.call('HSET', KEYS[6], unpack(new_tickets))
  line_cache = nil
end
local replies, waiting = {}, {}
for i, user in ipairs(users) do
  local ticket = ticket_of[user]
  local status = queue_status(ticket, now)
  local seq = '0'
  if status[1] == 'w' then
    waiting[#waiting + 1] = ticket
    -- A re-join reads its number back (rare; new tickets already know it).
    seq = seq_of[ticket] or redis.call('ZSCORE', KEYS[2], ticket)
  end
  replies[i] = ticket .. (created[i] and ' 1 ' or ' 0 ') .. epoch .. ' ' .. seq .. ' ' .. encode(status)
end
mark_seen(waiting, ARGV[1])
return replies
