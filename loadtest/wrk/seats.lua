-- The seat walk shared by hold.lua and hold-bare.lua: request i of thread t
-- takes seat (i mod 50)+1 of date FIRST_SCHEDULE + t*SCHEDULES_PER_THREAD +
-- (i div 50), so every request asks for a different free seat.
local first = tonumber(os.getenv("FIRST_SCHEDULE"))
local per_thread = tonumber(os.getenv("SCHEDULES_PER_THREAD"))
local i = -1
-- Returns the request number, its date and its seat.
function next_seat()
  i = i + 1
  return i, first + tid * per_thread + math.floor(i / 50) % per_thread, i % 50 + 1
end
