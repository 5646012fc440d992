-- POST /hold/<schedule>/<seat> on the baseline, walking the seats in the same
-- order as hold.lua does on booking.
dofile(os.getenv("WRK_DIR") .. "/report.lua")
local first = tonumber(os.getenv("FIRST_SCHEDULE"))
local per_thread = tonumber(os.getenv("SCHEDULES_PER_THREAD"))
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local i = -1
function request()
  i = i + 1
  local schedule = first + tid * per_thread + math.floor(i / 50) % per_thread
  return wrk.format("POST", string.format("/hold/%d/%d", schedule, i % 50 + 1))
end
