-- Joins of any number of users, atomically: a user has at most one ticket
-- per concert, and joining again returns the same ticket and place.
-- ARGV: 1 now_ms, then triples: user id, new ticket id (used only if the
-- user has no place yet), the new ticket's pre-queue score (its draw order,
-- gateway/src/draw.rs; '' when the caller does not know the queue's seed)
-- Returns one reply per triple, in order:
-- '<ticket> <created 1/0> <epoch> <seq, 0 when not waiting> <status>' with the
-- status encoded as in status.lua; 'x' for each when the queue was lost;
-- 'r' for a new pre-queue ticket whose score is missing or already taken
-- (nothing changed for it: the caller retries with the score of a new id).
-- Sold out, a new ticket takes no place and is answered 's'.
local epoch = current_epoch()
if not epoch then return lost((#ARGV - 1) / 3) end
local now = tonumber(ARGV[1])
local sched = schedule(now)
local users, fresh, scores = {}, {}, {}
for i = 2, #ARGV, 3 do
  users[#users + 1] = ARGV[i]
  fresh[#fresh + 1] = ARGV[i + 1]
  scores[#scores + 1] = ARGV[i + 2]
end
local existing = redis.call('HMGET', KEYS[5], unpack(users))
local ticket_of, created, seq_of, retry = {}, {}, {}, {}
local new_members, new_users, new_tickets = {}, {}, {}
local pre_scored = {}
for i, user in ipairs(users) do
  local ticket = ticket_of[user]       -- the same user twice in this call
  if not ticket then
    ticket = existing[i]
    local held = ticket and queue_status(ticket, now)[1]
    if ticket and held ~= 'w' and held ~= 'p' and held ~= 'a' then
      -- The old ticket lost its place (left, idle, session over, sold out): start afresh.
      forget(ticket)
      ticket = nil
    end
    if not ticket and sched[5] then
      -- Sold out: a ticket that holds no place.
      ticket = fresh[i]
      created[i] = true
    elseif not ticket and sched[1] then
      -- Before the opening: the place is the ticket's draw order.
      local score = scores[i]
      if score == '' or pre_scored[score]
          or redis.call('ZCOUNT', KEYS[2], score, score) > 0 then
        retry[i] = true
      else
        ticket = fresh[i]
        created[i] = true
        pre_scored[score] = true
        seq_of[ticket] = score
        redis.call('ZADD', KEYS[2], score, ticket)
        new_users[#new_users + 1] = user
        new_users[#new_users + 1] = ticket
        new_tickets[#new_tickets + 1] = ticket
        new_tickets[#new_tickets + 1] = user
        line_cache = nil
      end
    elseif not ticket then
      ticket = fresh[i]
      created[i] = true
      new_members[#new_members + 1] = ticket
      new_users[#new_users + 1] = user
      new_users[#new_users + 1] = ticket
      new_tickets[#new_tickets + 1] = ticket
      new_tickets[#new_tickets + 1] = user
    end
    if ticket then ticket_of[user] = ticket end
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
  line_cache = nil
end
if #new_users > 0 then
  redis.call('HSET', KEYS[5], unpack(new_users))
  redis.call('HSET', KEYS[6], unpack(new_tickets))
end
local replies, waiting = {}, {}
for i, user in ipairs(users) do
  local ticket = ticket_of[user]
  if retry[i] and not ticket then
    replies[i] = 'r'
  else
    local status
    if sched[5] and created[i] then status = {'s'} else status = queue_status(ticket, now) end
    local seq = '0'
    if status[1] == 'w' or status[1] == 'p' then
      waiting[#waiting + 1] = ticket
      -- A re-join reads its number back (rare; new tickets already know it).
      seq = seq_of[ticket] or redis.call('ZSCORE', KEYS[2], ticket)
    end
    replies[i] = ticket .. (created[i] and ' 1 ' or ' 0 ') .. epoch .. ' ' .. seq .. ' ' .. encode(status)
  end
end
mark_seen(waiting, ARGV[1])
return replies
