-- Removes an application and its index entries from the organisation scope.
-- KEYS[1] application hash   KEYS[2] applications sorted set   KEYS[3] uid -> id hash
-- ARGV[1] the application's member of the sorted set
-- Returns the deleted hash (HGETALL), or -2 when there was no such application.
local record = redis.call('HGETALL', KEYS[1])
if #record == 0 then return -2 end
local uid = redis.call('HGET', KEYS[1], 'uid')
if uid and uid ~= '' then redis.call('HDEL', KEYS[3], uid) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return record
