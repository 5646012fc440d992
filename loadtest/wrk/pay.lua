-- POST payments: each line of $PAY_FILE is "<access token> <reservation id>".
-- The threads take the lines in turn (thread t: lines t+1, t+1+T, …; T =
-- $WRK_THREADS, 2 as the runner runs wrk), so together they pay in file order
-- and every reservation is paid once (until the file runs out).
dofile(os.getenv("WRK_DIR") .. "/report.lua")
local lines = {}
for line in io.lines(os.getenv("PAY_FILE")) do lines[#lines + 1] = line end
local threads = tonumber(os.getenv("WRK_THREADS") or "2")
local i = 0
function request()
  local n = #lines
  local line = lines[(i * threads + tid) % n + 1]
  i = i + 1
  local token, reservation = line:match("^(%S+) (%S+)$")
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token}, '{"reservation_id":"' .. reservation .. '"}')
end
