-- Creates or updates an application together with its uid index, atomically, so two
-- concurrent requests with one uid can never both win.
-- KEYS[1] application hash   KEYS[2] applications sorted set   KEYS[3] uid -> id hash
-- ARGV[1] "create" | "update"   ARGV[2] application id   ARGV[3] list member (create)
-- ARGV[4] uid ("" = none on create, keep the current one on update)   ARGV[5..] field, value...
-- Returns the stored hash (HGETALL) on success; -1 uid taken; -2 no such application.
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[1] == 'update' and not exists then return -2 end
local old = ''
if exists then old = redis.call('HGET', KEYS[1], 'uid') or '' end
local uid = ARGV[4]
if uid == '' then uid = old end
if uid ~= old then
  local owner = redis.call('HGET', KEYS[3], uid)
  if owner and owner ~= ARGV[2] then return -1 end
  redis.call('HSET', KEYS[3], uid, ARGV[2])
  if old ~= '' then redis.call('HDEL', KEYS[3], old) end
end
redis.call('HSET', KEYS[1], 'uid', uid, unpack(ARGV, 5))
if ARGV[1] == 'create' then redis.call('ZADD', KEYS[2], 0, ARGV[3]) end
return redis.call('HGETALL', KEYS[1])
