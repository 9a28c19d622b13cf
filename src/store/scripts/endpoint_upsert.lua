-- Creates or updates an endpoint with its uid index, and bumps the application's endpoint
-- version so workers reload their cached endpoint list before routing the next message. An
-- update also tells the partition (a refresh entry on its stream), so deliveries already
-- queued for the endpoint follow the change at once; an update that disables an enabled
-- endpoint writes its endpoint.disabled event (reason manual) into the partition's outbox.
-- KEYS[1] application marker   KEYS[2] endpoint hash   KEYS[3] endpoints sorted set
-- KEYS[4] uid -> id hash   KEYS[5] endpoint health hash   KEYS[6] partition stream
-- KEYS[7] partition outbox
-- ARGV[1] "create" | "update"   ARGV[2] endpoint id   ARGV[3] list member (create)
-- ARGV[4] uid ("" = none on create, keep on update)   ARGV[5] endpoint limit per application
-- ARGV[6] "1" when the update enables the endpoint   ARGV[7] the stream entry's task field
-- ARGV[8] the refresh task (queue/task.rs)   ARGV[9] the outbox's event field
-- ARGV[10] the endpoint.disabled event of a manual disabling   ARGV[11..] field, value...
-- Returns the stored hash (HGETALL); -1 uid taken; -2 no such application; -3 no such
-- endpoint; -4 too many endpoints.
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
local exists = redis.call('EXISTS', KEYS[2]) == 1
if ARGV[1] == 'update' and not exists then return -3 end
if ARGV[1] == 'create' and redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then return -4 end
local old = ''
local was_enabled = '1'
if exists then
  old = redis.call('HGET', KEYS[2], 'uid') or ''
  was_enabled = redis.call('HGET', KEYS[2], 'enabled') or '1'
end
local uid = ARGV[4]
if uid == '' then uid = old end
if uid ~= old then
  local owner = redis.call('HGET', KEYS[4], uid)
  if owner and owner ~= ARGV[2] then return -1 end
  redis.call('HSET', KEYS[4], uid, ARGV[2])
  if old ~= '' then redis.call('HDEL', KEYS[4], old) end
end
-- Re-enabling an endpoint (auto-disabled or not) starts its health afresh; the bumped
-- healthEpoch tells the endpoint's actor to start its circuit breaker afresh too.
if was_enabled == '0' and ARGV[6] == '1' then
  redis.call('DEL', KEYS[5])
  redis.call('HINCRBY', KEYS[2], 'healthEpoch', 1)
end
redis.call('HSET', KEYS[2], 'uid', uid, unpack(ARGV, 11))
if ARGV[1] == 'create' then redis.call('ZADD', KEYS[3], 0, ARGV[3]) end
redis.call('HINCRBY', KEYS[1], 'ep_ver', 1)
if exists then redis.call('XADD', KEYS[6], '*', ARGV[7], ARGV[8]) end
if exists and was_enabled ~= '0' and ARGV[6] ~= '1' then
  redis.call('XADD', KEYS[7], '*', ARGV[9], ARGV[10])
end
return redis.call('HGETALL', KEYS[2])
