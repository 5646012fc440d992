-- join.lua at a fixed pace (see poll-paced.lua).
dofile(os.getenv("WRK_DIR") .. "/join.lua")
local pause = tonumber(os.getenv("CONNECTIONS")) * 1000 / tonumber(os.getenv("PACED_RATE"))
function delay()
  return pause
end
