-- Drops the head of a FIFO lane that has nothing left to deliver (its message expired or was
-- deleted), without an attempt, and makes the next head due at once. Fenced.
-- KEYS[1] the lane   KEYS[2] the partition's lane index   KEYS[3] the endpoint's lane names
-- KEYS[4] partition lease
-- ARGV[1] lease token of the caller   ARGV[2] the lane's member of the index
-- ARGV[3] the head as taken   ARGV[4] now (ms)   ARGV[5] the lane's name
-- Returns 1 when the lane has a next head, 0 otherwise, -1 when the lease is lost.
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return -1 end
if redis.call('LINDEX', KEYS[1], 0) == ARGV[3] then redis.call('LPOP', KEYS[1]) end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
  return 1
end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[3], ARGV[5])
return 0
