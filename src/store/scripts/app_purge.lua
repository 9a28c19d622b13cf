-- Deletes one batch of an application's partition-side data (marker, endpoints and their
-- health, messages with their uids and attempts). Called until it returns 0, so deleting a
-- large application never blocks Redis for long. The per-entity keys it deletes are derived
-- from the sorted-set members and all live in the same partition slot as KEYS.
-- KEYS[1] application marker   KEYS[2] endpoints sorted set   KEYS[3] endpoint uid hash
-- KEYS[4] messages sorted set
-- ARGV[1] partition key prefix ("<prefix>:{p.N}:")   ARGV[2] message uid key prefix
-- ARGV[3] batch size
-- Returns the number of entities deleted in this batch.
redis.call('DEL', KEYS[1], KEYS[3])
local batch = tonumber(ARGV[3])
local eps = redis.call('ZRANGE', KEYS[2], 0, batch - 1)
for _, member in ipairs(eps) do
  local key = ARGV[1] .. 'ep:' .. string.sub(member, 15)
  redis.call('DEL', key, key .. ':health')
  redis.call('ZREM', KEYS[2], member)
end
local msgs = redis.call('ZRANGE', KEYS[4], 0, batch - 1)
for _, member in ipairs(msgs) do
  local key = ARGV[1] .. 'msg:' .. string.sub(member, 15)
  local uid = redis.call('HGET', key, 'uid')
  if uid and uid ~= '' then redis.call('DEL', ARGV[2] .. uid) end
  redis.call('DEL', key, key .. ':attempts')
  redis.call('ZREM', KEYS[4], member)
end
return #eps + #msgs
