-- Releases part of an endpoint's parked backlog (deliveries held while its circuit is open)
-- into the partition stream, as its published circuit state allows: nothing before the
-- probe time, one delivery (the probe) when the probe is due, and up to a batch per call
-- once the circuit has closed. The backlog thus never cycles through the stream at each
-- probe, and drains gradually once the endpoint is back. Fenced.
-- KEYS[1] the endpoint's parked set   KEYS[2] parked endpoints index   KEYS[3] stream
-- KEYS[4] partition lease   KEYS[5] endpoint health hash   KEYS[6] endpoint hash
-- ARGV[1] lease token of the caller   ARGV[2] now (ms)   ARGV[3] endpoint id
-- ARGV[4] the stream entry's task field   ARGV[5] batch once closed
-- ARGV[6] pause after releasing a probe (ms)   ARGV[7] when to look again at a paused one (ms)
-- Returns the number released, or -1 when the lease is lost.
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return -1 end
local now = tonumber(ARGV[2])
if redis.call('HGET', KEYS[6], 'paused') == '1' then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[7]), ARGV[3])
  return 0
end
local circuit = redis.call('HGET', KEYS[5], 'circuit')
local next_probe = tonumber(redis.call('HGET', KEYS[5], 'nextProbe') or '')
local count = tonumber(ARGV[5])
local again = now
if circuit == 'open' or circuit == 'half_open' then
  if next_probe and next_probe > now then
    redis.call('ZADD', KEYS[2], next_probe, ARGV[3])
    return 0
  end
  count = 1
  again = now + tonumber(ARGV[6])
end
local parked = redis.call('ZRANGE', KEYS[1], 0, count - 1)
for _, member in ipairs(parked) do
  redis.call('XADD', KEYS[3], '*', ARGV[4], member)
end
if #parked > 0 then redis.call('ZREM', KEYS[1], unpack(parked)) end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[3])
else
  redis.call('ZADD', KEYS[2], again, ARGV[3])
end
return #parked
