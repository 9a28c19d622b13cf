-- Disables an endpoint if it still exists, bumps the application's endpoint version so
-- routing stops at once, tells the partition (a refresh entry) so queued deliveries stop
-- too, and, when it was enabled until now, writes its endpoint.disabled event into the
-- partition's outbox (410 Gone, or failing for longer than the auto-disable period).
-- KEYS[1] application marker   KEYS[2] endpoint hash   KEYS[3] partition stream
-- KEYS[4] partition outbox
-- ARGV[1] now (ms)   ARGV[2] the stream entry's task field   ARGV[3] the refresh task
-- ARGV[4] the outbox's event field   ARGV[5] the endpoint.disabled event
-- Returns 1 when the endpoint was disabled now, 2 when it was disabled already, 0 when it no
-- longer exists.
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local was = redis.call('HGET', KEYS[2], 'enabled')
redis.call('HSET', KEYS[2], 'enabled', '0', 'updated', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'ep_ver', 1)
redis.call('XADD', KEYS[3], '*', ARGV[2], ARGV[3])
if was == '0' then return 2 end
redis.call('XADD', KEYS[4], '*', ARGV[4], ARGV[5])
return 1
