-- GET the seat map of one of $SEATMAP_SCHEDULES dates from
-- $SEATMAP_FIRST_SCHEDULE on, as admitted fans refresh it during a sale:
-- each request another date and another fan's access token from
-- $SEATMAP_TOKENS_FILE (one per line), so `mine` is worked out per caller.
dofile(os.getenv("WRK_DIR") .. "/report.lua")
local tokens = {}
for line in io.lines(os.getenv("SEATMAP_TOKENS_FILE")) do tokens[#tokens + 1] = line end
local first = tonumber(os.getenv("SEATMAP_FIRST_SCHEDULE"))
local dates = tonumber(os.getenv("SEATMAP_SCHEDULES"))
local i = 0
function request()
  i = i + 1
  local path = string.format("/v1/schedules/%d/seats", first + (i + tid) % dates)
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. tokens[(tid * 7919 + i) % #tokens + 1]})
end
