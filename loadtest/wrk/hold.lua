-- POST holds: request i of thread t takes seat (i mod 50)+1 of schedule
-- FIRST_SCHEDULE + (t*1e6 + i) div 50, with the token of a different user each
-- time (so no user passes the per-schedule limit). Tokens: $TOKENS_FILE.
dofile(os.getenv("WRK_DIR") .. "/report.lua")
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
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
  local body = string.format('{"schedule_id":%d,"seat_number":%d}', schedule, i % 50 + 1)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(tid * 7919 + i) % #tokens + 1]}, body)
end
