-- GET the queue status, rotating over the tickets in $TICKETS_FILE (one per line).
dofile(os.getenv("WRK_DIR") .. "/report.lua")
local tickets = {}
for line in io.lines(os.getenv("TICKETS_FILE")) do tickets[#tickets + 1] = line end
local i = 0
function request()
  i = i % #tickets + 1
  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. tickets[i]})
end
