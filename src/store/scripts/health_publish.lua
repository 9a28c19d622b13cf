-- Publishes fields of an endpoint's health (its circuit state, its lowered rate), unless the
-- endpoint (or its application) was deleted meanwhile: nothing would ever delete a recreated
-- hash again.
-- KEYS[1] endpoint hash   KEYS[2] endpoint health hash
-- ARGV[1..] field, value...
-- Returns 1 when written, 0 when the endpoint no longer exists.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV))
return 1
