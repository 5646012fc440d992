-- POST joins, each with the session token of a different user (API.md:
-- a join names its user by `Authorization: Bearer <session token>`; the body
-- is empty). $SESSIONS_FILE has one session token per line; thread t uses
-- lines JOIN_STRIDE*t + 1 .. JOIN_STRIDE*(t+1), in order, read once at start
-- (before the measured interval), so files of a million tokens are fine.
-- A thread that runs out of lines starts its slice again: those requests are
-- rejoins (the same user, the same session token) and it says so on stderr.
-- The runner gives the full-speed runs more lines than they can use; the
-- rejoin run (cache hits) cycles over a small slice on purpose.
dofile(os.getenv("WRK_DIR") .. "/report.lua")
local stride = tonumber(os.getenv("JOIN_STRIDE") or "100000")
local path = os.getenv("SESSIONS_FILE")
local tokens = {}
local n = 0
laps = 0

function init()
  local first, last = tid * stride + 1, (tid + 1) * stride
  local i = 0
  for line in io.lines(path) do
    i = i + 1
    if i > last then break end
    if i >= first then tokens[#tokens + 1] = line end
  end
  if #tokens == 0 then
    error(string.format("join.lua: %s has no lines %d..%d for thread %d", path, first, last, tid))
  end
end

function request()
  n = n + 1
  if n > #tokens then n = 1; laps = laps + 1 end
  return wrk.format("POST", nil, {["Authorization"] = "Bearer " .. tokens[n]})
end

local report = done
function done(summary, latency, requests)
  for _, thread in ipairs(wrk_threads) do
    local l = thread:get("laps")
    if l and l > 0 then
      io.stderr:write(string.format("join.lua: thread %d reused its session tokens %d time(s) (rejoins)\n",
        thread:get("tid"), l))
    end
  end
  report(summary, latency, requests)
end
