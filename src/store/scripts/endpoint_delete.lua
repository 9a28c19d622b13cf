-- Removes an endpoint, its uid, its health, its parked backlog, its attempt log and stats, bumps the application's
-- endpoint version, and tells the partition (a refresh entry) so queued deliveries stop.
-- KEYS[1] application marker   KEYS[2] endpoint hash   KEYS[3] endpoints sorted set
-- KEYS[4] uid -> id hash   KEYS[5] endpoint health hash   KEYS[6] its parked backlog
-- KEYS[7] the partition's parked index   KEYS[8] partition stream   KEYS[9] its attempt log
-- KEYS[10] its stats
-- ARGV[1] the endpoint's member of the sorted set   ARGV[2] its member of the parked index
-- ARGV[3] the stream entry's task field   ARGV[4] the refresh task
-- Returns the deleted hash (HGETALL), or -3 when there was no such endpoint.
local record = redis.call('HGETALL', KEYS[2])
if #record == 0 then return -3 end
local uid = redis.call('HGET', KEYS[2], 'uid')
if uid and uid ~= '' then redis.call('HDEL', KEYS[4], uid) end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[5], KEYS[6], KEYS[9], KEYS[10])
redis.call('ZREM', KEYS[7], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'ep_ver', 1)
redis.call('XADD', KEYS[8], '*', ARGV[3], ARGV[4])
return record
