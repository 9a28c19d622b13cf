-- Acknowledges and deletes finished stream entries (so the stream does not grow), with the
-- done sets of those that fanned out to several endpoints. Fenced: refused unless the caller
-- holds the partition's lease.
-- KEYS[1] partition stream   KEYS[2] partition lease   KEYS[3..] done sets to delete
-- ARGV[1] lease token of the caller   ARGV[2] consumer group   ARGV[3..] entry ids
-- Returns the number of entries acknowledged, or -1 when the lease is lost.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local ids = {unpack(ARGV, 3)}
local acked = redis.call('XACK', KEYS[1], ARGV[2], unpack(ids))
redis.call('XDEL', KEYS[1], unpack(ids))
if #KEYS > 2 then redis.call('DEL', unpack(KEYS, 3)) end
return acked
