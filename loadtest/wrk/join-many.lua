-- join.lua over several concerts: the same users and session tokens, and
-- request i joins concert CONCERTS[i mod n] (CONCERTS: comma-separated ids),
-- so every concert's queue, and on a Redis Cluster every concert's slot,
-- takes an equal share of the joins.
dofile(os.getenv("WRK_DIR") .. "/join.lua")
local concerts = {}
for id in string.gmatch(os.getenv("CONCERTS") or "", "[^,]+") do
  concerts[#concerts + 1] = "/v1/concerts/" .. id .. "/queue"
end
if #concerts == 0 then error("join-many.lua: set CONCERTS to a comma-separated list of concert ids") end
local join = request
local k = 0
function request()
  k = k % #concerts + 1
  local req = join()
  -- join.lua builds "POST <url path> ..."; put this request's concert in it.
  return (req:gsub("^POST [^ ]+", "POST " .. concerts[k], 1))
end
