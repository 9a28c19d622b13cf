-- Disables an endpoint if it still exists, bumps the application's endpoint version so
-- routing stops at once, and tells the partition (a refresh entry) so queued deliveries stop
-- too (410 Gone, or failing for longer than the auto-disable period).
-- KEYS[1] application marker   KEYS[2] endpoint hash   KEYS[3] partition stream
-- ARGV[1] now (ms)   ARGV[2] the stream entry's task field   ARGV[3] the refresh task
-- Returns 1 when the endpoint was disabled, 0 when it no longer exists.
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'enabled', '0', 'updated', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'ep_ver', 1)
redis.call('XADD', KEYS[3], '*', ARGV[2], ARGV[3])
return 1
