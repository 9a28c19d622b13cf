-- Appends a delivery to the tail of an endpoint's FIFO lane, makes the lane due at once when
-- it was empty, and marks the endpoint done with the stream entry the delivery came from, in
-- one step: the lane, not the stream, holds the delivery from then on. Fenced.
-- KEYS[1] the lane   KEYS[2] the partition's lane index   KEYS[3] the endpoint's lane names
-- KEYS[4] the entry's done set   KEYS[5] partition lease
-- ARGV[1] lease token of the caller   ARGV[2] the delivery (encoded task)
-- ARGV[3] the lane's member of the index   ARGV[4] now (ms)   ARGV[5] the lane's name
-- ARGV[6] endpoint id   ARGV[7] done-set lifetime (s)
-- Returns the lane's length, or -1 when the lease is lost.
if redis.call('GET', KEYS[5]) ~= ARGV[1] then return -1 end
local length = redis.call('RPUSH', KEYS[1], ARGV[2])
if length == 1 then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3]) end
redis.call('SADD', KEYS[3], ARGV[5])
redis.call('SADD', KEYS[4], ARGV[6])
redis.call('EXPIRE', KEYS[4], ARGV[7])
return length
