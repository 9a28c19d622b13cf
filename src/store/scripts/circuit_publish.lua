-- Publishes an endpoint's circuit state in its health hash, unless the endpoint (or its
-- application) was deleted meanwhile: nothing would ever delete a recreated hash again.
-- KEYS[1] endpoint hash   KEYS[2] endpoint health hash
-- ARGV[1] circuit state   ARGV[2] next probe (ms, "" = none)   ARGV[3] consecutive trips
-- Returns 1 when written, 0 when the endpoint no longer exists.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'circuit', ARGV[1], 'nextProbe', ARGV[2], 'trips', ARGV[3])
return 1
