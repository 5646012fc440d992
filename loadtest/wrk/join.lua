-- POST joins of distinct users: thread t uses users FIRST + t*STRIDE + 1, 2, ...
dofile(os.getenv("WRK_DIR") .. "/report.lua")
local first = tonumber(os.getenv("JOIN_FIRST_USER") or "1001")
local stride = tonumber(os.getenv("JOIN_STRIDE") or "200000")
local n = 0
function request()
  n = n + 1
  local user = first + tid * stride + n
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
                    '{"user_id":' .. user .. '}')
end
