-- Moves due retries from a partition's retry set into its stream as single-endpoint tasks,
-- atomically: a crash can never lose a retry or move it twice. Only the lease holder moves.
-- KEYS[1] retry sorted set   KEYS[2] partition stream   KEYS[3] partition lease
-- ARGV[1] now (ms)   ARGV[2] most entries to move   ARGV[3] lease token of the caller
-- Members are "app|message|endpoint|attempts made|nonce".
-- Returns the number moved, or -1 when the caller no longer holds the lease.
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return -1 end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local app, msg, ep, n = string.match(member, '^([^|]+)|([^|]+)|([^|]+)|([^|]+)')
  if app then
    redis.call('XADD', KEYS[2], '*', 'a', app, 'm', msg, 'e', ep, 'n', n)
  end
  redis.call('ZREM', KEYS[1], member)
end
return #due
