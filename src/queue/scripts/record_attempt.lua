-- Records the outcome of one delivery attempt in one atomic step: the attempt (while the
-- message is retained), the endpoint's health, the retry (when one is scheduled), and the
-- job's end for its stream entry: the acknowledgement when it is the entry's only job, or
-- the endpoint's mark in the entry's done set (so a redelivered entry skips it). There is no
-- moment at which a failed delivery is neither pending in the stream nor scheduled in the
-- retry set. Fenced: refused unless the caller still holds the partition's lease.
-- KEYS[1] attempts list   KEYS[2] message hash   KEYS[3] endpoint health hash
-- KEYS[4] retry sorted set   KEYS[5] partition stream   KEYS[6] endpoint hash
-- KEYS[7] partition lease   KEYS[8] the entry's done set
-- ARGV[1] attempt JSON   ARGV[2] retention (s)   ARGV[3] "success" | "failure"
-- ARGV[4] now (ms)   ARGV[5] retry member ("" = none)   ARGV[6] retry due (ms)
-- ARGV[7] stream entry id   ARGV[8] "ack" (the entry's only job) | "mark" (one of several)
-- ARGV[9] auto-disable after (ms)
-- ARGV[10] the attempt JSON as recorded when this failure disables the endpoint: final, no
--          retry ("" = ARGV[1] either way)
-- ARGV[11] consumer group   ARGV[12] lease token of the caller   ARGV[13] endpoint id
-- ARGV[14] done-set lifetime (s)
-- Returns 1 recorded, 2 recorded as final because the endpoint has failed for longer than
-- the auto-disable period (the caller disables it; no retry was scheduled), -1 lease lost.
if redis.call('GET', KEYS[7]) ~= ARGV[12] then return -1 end
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
    elseif tonumber(ARGV[4]) - tonumber(since) >= tonumber(ARGV[9]) then
      result = 2
    end
  end
end
local attempt = ARGV[1]
if result == 2 and ARGV[10] ~= '' then attempt = ARGV[10] end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RPUSH', KEYS[1], attempt)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if ARGV[5] ~= '' and result ~= 2 then
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[5])
end
if ARGV[8] == 'ack' then
  redis.call('XACK', KEYS[5], ARGV[11], ARGV[7])
  redis.call('XDEL', KEYS[5], ARGV[7])
  redis.call('DEL', KEYS[8])
else
  redis.call('SADD', KEYS[8], ARGV[13])
  redis.call('EXPIRE', KEYS[8], ARGV[14])
end
return result
