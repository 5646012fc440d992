-- poll.lua at a fixed pace: each connection waits so that all of them
-- together send about $PACED_RATE requests/s ($CONNECTIONS connections).
-- The latency of each request is what wrk reports.
dofile(os.getenv("WRK_DIR") .. "/poll.lua")
-- Each connection waits its share of the interval, less an allowance of
-- 1.5 ms for the answer itself (the wait starts when the answer arrives).
local pause = math.max(0, tonumber(os.getenv("CONNECTIONS")) * 1000 / tonumber(os.getenv("PACED_RATE")) - 1.5)
function delay()
  return pause
end
