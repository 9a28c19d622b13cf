-- Claims a stalled background job (recovery, erasure) for this node, so that two nodes (two
-- status requests, or a status request and the partition's owner) cannot both resume it.
-- KEYS[1] the job's hash
-- ARGV[1] now (ms)   ARGV[2] stale after (ms)
-- Returns 1 when claimed, 0 when the job is finished or another node is making progress.
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
local updated = tonumber(redis.call('HGET', KEYS[1], 'updated') or '0')
if tonumber(ARGV[1]) - updated < tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'updated', ARGV[1])
return 1
