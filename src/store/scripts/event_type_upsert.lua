-- Creates or replaces an event type of an organisation's catalogue.
-- KEYS[1] the event type's hash   KEYS[2] the catalogue's sorted set of names
-- ARGV[1] "create" | "update"   ARGV[2] name   ARGV[3] now (ms)   ARGV[4..] field, value...
-- Returns the stored hash (HGETALL); -1 it exists already (create); -3 no such event type
-- (update).
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[1] == 'create' then
  if exists then return -1 end
  redis.call('HSET', KEYS[1], 'name', ARGV[2], 'created', ARGV[3])
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
elseif not exists then
  return -3
end
redis.call('HSET', KEYS[1], 'updated', ARGV[3], unpack(ARGV, 4))
return redis.call('HGETALL', KEYS[1])
