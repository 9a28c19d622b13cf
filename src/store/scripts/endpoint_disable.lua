-- Disables an endpoint if it still exists and bumps the application's endpoint version, so
-- routing stops at once (410 Gone, or failing for longer than the auto-disable period).
-- KEYS[1] application marker   KEYS[2] endpoint hash
-- ARGV[1] now (ms)
-- Returns 1 when the endpoint was disabled, 0 when it no longer exists.
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'enabled', '0', 'updated', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'ep_ver', 1)
return 1
