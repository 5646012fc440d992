-- POST payments: each line of $PAY_FILE is "<access token> <reservation id>",
-- split between threads; every reservation is paid once.
dofile(os.getenv("WRK_DIR") .. "/report.lua")
local lines = {}
for line in io.lines(os.getenv("PAY_FILE")) do lines[#lines + 1] = line end
local i = 0
function request()
  local n = #lines
  local line = lines[(tid * math.floor(n / 2) + i) % n + 1]
  i = i + 1
  local token, reservation = line:match("^(%S+) (%S+)$")
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token}, '{"reservation_id":"' .. reservation .. '"}')
end
