-- POST holds of free seats (see seats.lua), each with a different user's
-- token from $TOKENS_FILE, so no user passes the per-date limit.
dofile(os.getenv("WRK_DIR") .. "/report.lua")
dofile(os.getenv("WRK_DIR") .. "/seats.lua")
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
function request()
  local n, schedule, seat = next_seat()
  local body = string.format('{"schedule_id":%d,"seat_number":%d}', schedule, seat)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(tid * 7919 + n) % #tokens + 1]}, body)
end
