-- Removes an endpoint, its uid, its health, and bumps the application's endpoint version.
-- KEYS[1] application marker   KEYS[2] endpoint hash   KEYS[3] endpoints sorted set
-- KEYS[4] uid -> id hash   KEYS[5] endpoint health hash   KEYS[6] its parked backlog
-- KEYS[7] the partition's parked index
-- ARGV[1] the endpoint's member of the sorted set   ARGV[2] its member of the parked index
-- Returns the deleted hash (HGETALL), or -3 when there was no such endpoint.
local record = redis.call('HGETALL', KEYS[2])
if #record == 0 then return -3 end
local uid = redis.call('HGET', KEYS[2], 'uid')
if uid and uid ~= '' then redis.call('HDEL', KEYS[4], uid) end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[5], KEYS[6])
redis.call('ZREM', KEYS[7], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'ep_ver', 1)
return record
