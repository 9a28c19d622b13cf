-- Moves due retries from a partition's retry set into its stream, atomically: a crash can
-- never lose a retry or move it twice. Only the lease holder moves. Members are encoded tasks
-- (queue/task.rs), copied into the stream as they are.
-- KEYS[1] retry sorted set   KEYS[2] partition stream   KEYS[3] partition lease
-- ARGV[1] now (ms)   ARGV[2] most entries to move   ARGV[3] lease token of the caller
-- ARGV[4] the stream entry's task field
-- Returns the number moved, or -1 when the caller no longer holds the lease.
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return -1 end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', ARGV[4], member)
  redis.call('ZREM', KEYS[1], member)
end
return #due
