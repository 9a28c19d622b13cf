-- wrk script: POST 1 KB messages round-robin over the application ids in $APP_IDS
-- (comma-separated) with the bearer token in $TOKEN. Peak ingest is measured with wrk
-- because k6 itself saturates far below the server on this machine.
local ids = {}
for id in string.gmatch(os.getenv("APP_IDS") or "", "[^,]+") do ids[#ids + 1] = id end
local token = os.getenv("TOKEN") or "loadtest"
local body = '{"eventType":"load.test","payload":{"filler":"' .. string.rep("x", 1000) .. '"}}'
local counter = 0

request = function()
  counter = counter + 1
  local id = ids[(counter % #ids) + 1]
  return wrk.format("POST", "/api/v1/applications/" .. id .. "/messages",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end


done = function(summary, latency)
  io.write(string.format("ingest: %d requests, %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
