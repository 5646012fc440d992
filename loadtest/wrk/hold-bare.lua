-- POST /hold/<schedule>/<seat> on the baseline, walking the seats exactly as
-- hold.lua does on booking (see seats.lua).
dofile(os.getenv("WRK_DIR") .. "/report.lua")
dofile(os.getenv("WRK_DIR") .. "/seats.lua")
function request()
  local _, schedule, seat = next_seat()
  return wrk.format("POST", string.format("/hold/%d/%d", schedule, seat))
end
