-- Deletes an event type from an organisation's catalogue.
-- KEYS[1] the event type's hash   KEYS[2] the catalogue's sorted set of names   ARGV[1] name
-- Returns the deleted hash (HGETALL), or -3 when there was no such event type.
local record = redis.call('HGETALL', KEYS[1])
if #record == 0 then return -3 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return record
