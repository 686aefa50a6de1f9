-- wrk script: POST one message to a fresh ticket per request, as a bulk job does.
-- Each wrk thread numbers its own tickets, so ids never collide and no ticket grows.
local counter = 0
local next_tag = 0

-- Runs once per thread in wrk's main Lua state: give each thread its own tag.
function setup(thread)
  next_tag = next_tag + 1
  thread:set("thread_tag", tostring(next_tag))
end

request = function()
  counter = counter + 1
  local path = string.format("/v1/tickets/tic_b%sx%d", thread_tag, counter)
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer sandbox-token",
    ["Content-Type"] = "application/json",
  }, '{"message":"<p>Scheduled maintenance tonight from 22:00 to 23:00.</p>"}')
end
