-- Takes the head of a due FIFO lane for delivery: answers it and puts the lane out of reach
-- until the delivery's outcome is recorded (which makes the lane due again), or until
-- `hold` has passed (its worker died: the head is delivered again, order kept). Fenced.
-- KEYS[1] the lane   KEYS[2] the partition's lane index   KEYS[3] the endpoint's lane names
-- KEYS[4] partition lease
-- ARGV[1] lease token of the caller   ARGV[2] the lane's member of the index   ARGV[3] now (ms)
-- ARGV[4] hold (ms)   ARGV[5] the lane's name
-- Returns the head, false when the lane is not due or empty (an empty one leaves the index),
-- or -1 when the lease is lost.
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return -1 end
local due = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[2]) or '')
if not due or due > tonumber(ARGV[3]) then return false end
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('SREM', KEYS[3], ARGV[5])
  return false
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[2])
return head
