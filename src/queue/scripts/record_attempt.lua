-- Records the outcome of one delivery attempt in one atomic step: the attempt (while the
-- message is retained), the endpoint's health, the retry (when one is scheduled) and, for
-- single-endpoint stream entries, the acknowledgement. There is no moment at which a failed
-- delivery is neither pending in the stream nor scheduled in the retry set.
-- KEYS[1] attempts list   KEYS[2] message hash   KEYS[3] endpoint health hash
-- KEYS[4] retry sorted set   KEYS[5] partition stream   KEYS[6] endpoint hash
-- ARGV[1] attempt JSON   ARGV[2] retention (s)   ARGV[3] "success" | "failure"
-- ARGV[4] now (ms)   ARGV[5] retry member ("" = none)   ARGV[6] retry due (ms)
-- ARGV[7] stream entry id to acknowledge ("" = none)   ARGV[8] auto-disable after (ms)
-- ARGV[9] the attempt JSON as recorded when this failure disables the endpoint: final, no
--         retry ("" = ARGV[1] either way)
-- ARGV[10] consumer group of the stream
-- Returns 1 normally, 2 when the endpoint has failed for longer than the auto-disable period
-- (the caller disables it; no retry is scheduled, since a disabled endpoint gets none).
local result = 1
-- The endpoint (or its application) may have been deleted while the request was in flight:
-- its health hash is then not recreated, nothing would ever delete it again.
if redis.call('EXISTS', KEYS[6]) == 1 then
  if ARGV[3] == 'success' then
    redis.call('HSET', KEYS[3], 'lastSuccess', ARGV[4], 'consecutiveFailures', 0, 'failingSince', '')
  else
    redis.call('HINCRBY', KEYS[3], 'consecutiveFailures', 1)
    redis.call('HSET', KEYS[3], 'lastFailure', ARGV[4])
    local since = redis.call('HGET', KEYS[3], 'failingSince')
    if not since or since == '' then
      redis.call('HSET', KEYS[3], 'failingSince', ARGV[4])
    elseif tonumber(ARGV[4]) - tonumber(since) >= tonumber(ARGV[8]) then
      result = 2
    end
  end
end
local attempt = ARGV[1]
if result == 2 and ARGV[9] ~= '' then attempt = ARGV[9] end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RPUSH', KEYS[1], attempt)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if ARGV[5] ~= '' and result ~= 2 then
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[5])
end
if ARGV[7] ~= '' then
  redis.call('XACK', KEYS[5], ARGV[10], ARGV[7])
  redis.call('XDEL', KEYS[5], ARGV[7])
end
return result
