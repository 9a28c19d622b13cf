-- Claims, for the partition's consumer, stream entries pending for longer than a bound: the
-- entries whose outcome could not be recorded, or whose read reply was lost with a broken
-- connection, come back without waiting for a hand-over. Walks the pending list with a
-- cursor (XAUTOCLAIM); entries deleted while pending leave the list by themselves.
-- Fenced: refused unless the caller holds the partition's lease.
-- KEYS[1] partition stream   KEYS[2] partition lease
-- ARGV[1] lease token of the caller   ARGV[2] consumer group   ARGV[3] consumer name
-- ARGV[4] minimum idle time (ms)   ARGV[5] cursor ("0-0" to start)   ARGV[6] most entries
-- Returns {next cursor, {{id, {field, value, ...}}, ...}}, or -1 when the lease is lost.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], 'COUNT', ARGV[6])
return {reply[1], reply[2]}
