-- wrk script: POST messages round-robin over the application ids in $APP_IDS
-- (comma-separated) with the bearer token in $TOKEN. The message's `payload` object
-- serializes to $PAYLOAD bytes (default 1024: `{"filler":"xxx…"}`). Peak ingest is measured
-- with wrk because k6 itself saturates far below the server on this machine.
-- Each wrk thread runs its own copy of this script, so each walks the ids round robin.
local ids = {}
for id in string.gmatch(os.getenv("APP_IDS") or "", "[^,]+") do ids[#ids + 1] = id end
if #ids == 0 then error("APP_IDS is empty") end
local token = os.getenv("TOKEN") or "loadtest"
local size = tonumber(os.getenv("PAYLOAD") or "1024")
-- `{"filler":""}` is 13 bytes.
local body = '{"eventType":"load.test","payload":{"filler":"'
  .. string.rep("x", math.max(0, size - 13)) .. '"}}'
local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
local counter = 0
-- $WRK_DELAY_MS (set by run.sh from RATE): each connection waits this long on average
-- before each request (drawn from 0 .. 2x, so the connections do not send in lockstep), so
-- the rate is at most connections x 1000 / delay per second, less the latency's share.
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "")
if pause then delay = function() return math.random(0, 2 * pause) end end

request = function()
  counter = counter + 1
  local id = ids[(counter % #ids) + 1]
  return wrk.format("POST", "/api/v1/applications/" .. id .. "/messages", headers, body)
end

done = function(summary, latency)
  local e = summary.errors
  io.write(string.format("ingest: %d requests, %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status + e.connect + e.read + e.write + e.timeout))
  -- Machine-readable: wrk counts responses with status >= 400 in errors.status, so
  -- requests - status are the accepted (2xx) messages.
  io.write(string.format("wrk: requests=%d status_errors=%d socket_errors=%d duration_us=%d\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration))
end
