-- Records the outcome of one delivery attempt in one atomic step: the attempt (while the
-- message is retained) with its entry in the endpoint's attempt log and stats, the
-- endpoint's health, and what follows. For a job from the stream: the retry (when one is
-- scheduled) and the job's end for its stream entry, the acknowledgement when it is the
-- entry's only job or the endpoint's mark in the entry's done set (so a redelivered entry
-- skips it). For the head of a FIFO lane: the head stays in place, one attempt older and due
-- at its retry time, or leaves the lane, whose next head is then due at once. There is no moment at which a failed
-- delivery is neither pending in the stream nor scheduled in the retry set. Fenced: refused
-- unless the caller still holds the partition's lease. Every format (attempt, log member,
-- stats fields) is made by the caller; the script only adds the attempt's list position and
-- counts into a stats bucket ("<period id>:<successes>:<failures>", read by queue/log.rs).
-- KEYS[1] attempts list   KEYS[2] message hash   KEYS[3] endpoint health hash
-- KEYS[4] retry sorted set   KEYS[5] partition stream   KEYS[6] endpoint hash
-- KEYS[7] partition lease   KEYS[8] the entry's done set   KEYS[9] the endpoint's attempt log
-- KEYS[10] the endpoint's stats   KEYS[11] the lane   KEYS[12] the partition's lane index
-- KEYS[13] the endpoint's lane names   KEYS[14] the partition's outbox
-- ARGV[1] attempt JSON   ARGV[2] retention (s)   ARGV[3] "success" | "failure"
-- ARGV[4] now (ms)   ARGV[5] retry member ("" = none)   ARGV[6] retry due (ms)
-- ARGV[7] stream entry id   ARGV[8] "ack" (the entry's only job) | "ack_done" (the same,
--         and the entry has a done set to delete) | "mark" (one of several) | "lane" (the head
--         of a FIFO lane)
-- ARGV[9] auto-disable after (ms)
-- ARGV[10] the attempt JSON as recorded when this failure disables the endpoint: final, no
--          retry ("" = ARGV[1] either way)
-- ARGV[11] consumer group   ARGV[12] lease token of the caller   ARGV[13] endpoint id
-- ARGV[14] done-set lifetime (s)   ARGV[15] when the attempt started (ms)
-- ARGV[16] log member before the position   ARGV[17] log member after it
-- ARGV[18] log member after it when this failure disables the endpoint
-- ARGV[19] oldest log score kept (ms), or "" not to trim the log this time
-- ARGV[20..23] stats: the hour's bucket field and the hour's id, the day's bucket field and
--              the day's id (a bucket holds "<period id>:<successes>:<failures>")
-- ARGV[24] the lane's member of the index   ARGV[25] the head as it was taken
-- ARGV[26] the head one attempt older   ARGV[27] the lane's name
-- ARGV[28] the outbox's event field   ARGV[29] message.attempt.exhausted event ("" = none)
-- ARGV[30] message.attempt.failing event ("" = none)   ARGV[31] failing this long (ms) makes
-- the endpoint.disabling warning   ARGV[32] that warning's event, without its disableAt
-- (added here: failing since + ARGV[9]); sent once per failure streak ('warned' in the health)
-- Returns {1 recorded, or 2 recorded as final because the endpoint has failed for longer
-- than the auto-disable period (the caller disables it; no retry was scheduled); for a lane,
-- whether it has a next head (1) or not (0)}, or -1 when the lease is lost.
if redis.call('GET', KEYS[7]) ~= ARGV[12] then return -1 end
local result = 1
-- The endpoint (or its application) may have been deleted while the request was in flight:
-- its health, log and stats are then not recreated, nothing would ever delete them again.
-- One call answers both existence checks when both keys are there, as they nearly always are.
local endpoint_exists, message_exists = true, true
if redis.call('EXISTS', KEYS[6], KEYS[2]) ~= 2 then
  endpoint_exists = redis.call('EXISTS', KEYS[6]) == 1
  message_exists = redis.call('EXISTS', KEYS[2]) == 1
end
if endpoint_exists then
  if ARGV[3] == 'success' then
    -- A success on an endpoint without failures rewrites its health at most once a second:
    -- a read costs less than a write (and writes go to the AOF and the replicas).
    local health = redis.call('HMGET', KEYS[3], 'consecutiveFailures', 'lastSuccess')
    if health[1] ~= '0' or tonumber(ARGV[4]) - (tonumber(health[2]) or 0) >= 1000 then
      redis.call('HSET', KEYS[3], 'lastSuccess', ARGV[4], 'consecutiveFailures', 0, 'failingSince', '')
    end
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
  -- Operational events, into the outbox with the change they report.
  if ARGV[3] ~= 'success' and result ~= 2 then
    local since = redis.call('HGET', KEYS[3], 'failingSince')
    if tonumber(ARGV[4]) - tonumber(since) >= tonumber(ARGV[31])
        and redis.call('HGET', KEYS[3], 'warned') ~= since then
      redis.call('HSET', KEYS[3], 'warned', since)
      local warning = cjson.decode(ARGV[32])
      warning.data.disableAt = tonumber(since) + tonumber(ARGV[9])
      redis.call('XADD', KEYS[14], '*', ARGV[28], cjson.encode(warning))
    end
  end
  for i = 29, 30 do
    if ARGV[i] ~= '' then redis.call('XADD', KEYS[14], '*', ARGV[28], ARGV[i]) end
  end
  -- Stats: one bucket per hour (24) and per day (30), started afresh when reused for a newer
  -- period. One read and one write for both.
  local buckets = redis.call('HMGET', KEYS[10], ARGV[20], ARGV[22])
  local fields = {}
  for i, first in ipairs({20, 22}) do
    local period, successes, failures = string.match(buckets[i] or '', '^(%d+):(%d+):(%d+)$')
    if period ~= ARGV[first + 1] then successes, failures = 0, 0 end
    if ARGV[3] == 'success' then successes = successes + 1 else failures = failures + 1 end
    fields[#fields + 1] = ARGV[first]
    fields[#fields + 1] = ARGV[first + 1] .. ':' .. successes .. ':' .. failures
  end
  redis.call('HSET', KEYS[10], unpack(fields))
end
local attempt = ARGV[1]
local log_suffix = ARGV[17]
if result == 2 and ARGV[10] ~= '' then
  attempt = ARGV[10]
  log_suffix = ARGV[18]
end
if message_exists then
  local position = redis.call('RPUSH', KEYS[1], attempt) - 1
  -- The list's lifetime is set with its first attempt.
  if position == 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
  if endpoint_exists then
    redis.call('ZADD', KEYS[9], ARGV[15], ARGV[16] .. position .. log_suffix)
    if ARGV[19] ~= '' then redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', '(' .. ARGV[19]) end
  end
end
if ARGV[8] == 'lane' then
  if redis.call('LINDEX', KEYS[11], 0) ~= ARGV[25] then return {result, 0} end
  if ARGV[5] ~= '' and result ~= 2 then
    redis.call('LSET', KEYS[11], 0, ARGV[26])
    redis.call('ZADD', KEYS[12], ARGV[6], ARGV[24])
    return {result, 0}
  end
  redis.call('LPOP', KEYS[11])
  if redis.call('EXISTS', KEYS[11]) == 1 then
    redis.call('ZADD', KEYS[12], ARGV[4], ARGV[24])
    return {result, 1}
  end
  redis.call('ZREM', KEYS[12], ARGV[24])
  redis.call('SREM', KEYS[13], ARGV[27])
  return {result, 0}
end
-- No retry for an endpoint deleted meanwhile: nothing would deliver it.
if ARGV[5] ~= '' and result ~= 2 and endpoint_exists then
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[5])
end
if ARGV[8] == 'ack' or ARGV[8] == 'ack_done' then
  redis.call('XACK', KEYS[5], ARGV[11], ARGV[7])
  redis.call('XDEL', KEYS[5], ARGV[7])
  if ARGV[8] == 'ack_done' then redis.call('DEL', KEYS[8]) end
else
  redis.call('SADD', KEYS[8], ARGV[13])
  redis.call('EXPIRE', KEYS[8], ARGV[14])
end
return {result, 0}
