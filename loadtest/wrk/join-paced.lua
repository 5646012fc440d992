-- join.lua at a fixed pace (see poll-paced.lua): the same session tokens file.
dofile(os.getenv("WRK_DIR") .. "/join.lua")
-- Each connection waits its share of the interval, less an allowance of
-- 1.5 ms for the answer itself (the wait starts when the answer arrives).
local pause = math.max(0, tonumber(os.getenv("CONNECTIONS")) * 1000 / tonumber(os.getenv("PACED_RATE")) - 1.5)
function delay()
  return pause
end
