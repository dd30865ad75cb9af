-- wrk script: POST /api/v1/requests as an enterprise user, a help request whose content
-- differs on every request. Usage: wrk ... -s bench/post.lua URL -- TOKEN
local token, n = nil, 0
tid = 0 -- set per thread by setup()
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function init(args)
  token = args[1]
end
function request()
  n = n + 1
  local body = string.format(
    '{"type":"help","content":"基准测试诉求 bench request %d-%d：企业用工咨询，请尽快答复。"}',
    tid, n)
  return wrk.format("POST", "/api/v1/requests", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
