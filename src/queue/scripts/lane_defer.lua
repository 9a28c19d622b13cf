-- Puts off a FIFO lane whose head could not be sent now (open circuit, paused endpoint,
-- full queue): it is due again at the given time, its head unchanged and not counted as an
-- attempt. Fenced.
-- KEYS[1] the partition's lane index   KEYS[2] partition lease
-- ARGV[1] lease token of the caller   ARGV[2] the lane's member of the index   ARGV[3] due (ms)
-- Returns 1, or -1 when the lease is lost.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[2])
return 1
