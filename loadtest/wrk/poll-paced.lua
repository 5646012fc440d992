-- poll.lua at a fixed pace: each connection waits so that all of them
-- together send about $PACED_RATE requests/s ($CONNECTIONS connections).
-- The latency of each request is what wrk reports.
dofile(os.getenv("WRK_DIR") .. "/poll.lua")
local pause = tonumber(os.getenv("CONNECTIONS")) * 1000 / tonumber(os.getenv("PACED_RATE"))
function delay()
  return pause
end
