-- wrk script: GET with a Bearer token. Usage: wrk ... -s bench/get.lua URL -- TOKEN
local token = nil
function init(args)
  token = args[1]
end
function request()
  local h = {}
  if token and token ~= "" then h["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", nil, h)
end
