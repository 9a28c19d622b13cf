-- Records the outcome of one delivery attempt in one atomic step: the attempt (while the
-- message is retained) with its entry in the endpoint's attempt log and stats, the
-- endpoint's health, and what follows. For a job from the stream: the retry (when one is
-- scheduled) and the job's end for its stream entry, the acknowledgement when it is the
-- entry's only job or the endpoint's mark in the entry's done set (so a redelivered entry
-- skips it). For the head of a FIFO lane: the head stays in place, one attempt older and due
-- at its retry time, or leaves the lane, whose next head is then due at once. There is no
-- moment at which a failed delivery is neither pending in the stream nor scheduled in the
-- retry set. Fenced: refused unless the caller still holds the partition's lease. Its
-- functions are in record_common.lua, put in front of it. Successes of jobs from the stream
-- are mostly recorded many at a time by record_successes.lua instead.
--
-- Keys and arguments come in three tiers, each passed only when needed: Redis turns every key
-- and argument into a Lua string (~0.1-0.3 us each), and most calls are the success of a job
-- from the stream, which reads the first tier only. A failure adds the second tier, the head
-- of a lane all three.
-- Tier 1 (every call):
-- KEYS[1] partition lease   KEYS[2] attempts list   KEYS[3] message hash   KEYS[4] endpoint hash
-- KEYS[5] endpoint health hash   KEYS[6] the endpoint's attempt log   KEYS[7] its stats
-- KEYS[8] partition stream   KEYS[9] the entry's done set
-- ARGV[1] lease token of the caller   ARGV[2] "success" | "failure"   ARGV[3] now (ms)
-- ARGV[4] retention (s)   ARGV[5] attempt JSON   ARGV[6] when the attempt started (ms)
-- ARGV[7] log member before the position   ARGV[8] log member after it
-- ARGV[9] oldest log score kept (ms), or "" not to trim the log this time
-- ARGV[10..13] stats: the hour's bucket field and the hour's id, the day's bucket field and
--              the day's id (a bucket holds "<period id>:<successes>:<failures>")
-- ARGV[14] "ack" (the entry's only job) | "ack_done" (the same, and the entry has a done set
--          to delete) | "mark" (one of several) | "lane" (the head of a FIFO lane)
-- ARGV[15] stream entry id   ARGV[16] consumer group   ARGV[17] endpoint id
-- ARGV[18] done-set lifetime (s)
-- Tier 2 (failures, and lanes):
-- KEYS[10] retry sorted set   KEYS[11] the partition's outbox
-- ARGV[19] retry member ("" = none)   ARGV[20] retry due (ms)   ARGV[21] auto-disable after (ms)
-- ARGV[22] the attempt JSON as recorded when this failure disables the endpoint: final, no
--          retry ("" = ARGV[5] either way)   ARGV[23] log member after the position then
-- ARGV[24] the outbox's event field   ARGV[25] message.attempt.exhausted event ("" = none)
-- ARGV[26] message.attempt.failing event ("" = none)   ARGV[27] failing this long (ms) makes
-- the endpoint.disabling warning   ARGV[28] that warning's event, without its disableAt
-- (added here: failing since + ARGV[21]); sent once per failure streak ('warned' in the health)
-- Tier 3 (lanes):
-- KEYS[12] the lane   KEYS[13] the partition's lane index   KEYS[14] the endpoint's lane names
-- ARGV[29] the lane's member of the index   ARGV[30] the head as it was taken
-- ARGV[31] the head one attempt older   ARGV[32] the lane's name
-- Returns {1 recorded, or 2 recorded as final because the endpoint has failed for longer
-- than the auto-disable period (the caller disables it; no retry was scheduled); for a lane,
-- whether it has a next head (1) or not (0)}, or -1 when the lease is lost.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local failed = ARGV[2] ~= 'success'
local now = tonumber(ARGV[3])
local result = 1
local endpoint_exists, message_exists = existing(KEYS[4], KEYS[3])
if endpoint_exists then
  if not failed then
    note_success(KEYS[5], ARGV[3], now)
  else
    redis.call('HINCRBY', KEYS[5], 'consecutiveFailures', 1)
    redis.call('HSET', KEYS[5], 'lastFailure', ARGV[3])
    local since = redis.call('HGET', KEYS[5], 'failingSince')
    if not since or since == '' then
      redis.call('HSET', KEYS[5], 'failingSince', ARGV[3])
      since = ARGV[3]
    elseif now - tonumber(since) >= tonumber(ARGV[21]) then
      result = 2
    end
    -- Operational events, into the outbox with the change they report.
    if result ~= 2 and now - tonumber(since) >= tonumber(ARGV[27])
        and redis.call('HGET', KEYS[5], 'warned') ~= since then
      redis.call('HSET', KEYS[5], 'warned', since)
      local warning = cjson.decode(ARGV[28])
      warning.data.disableAt = tonumber(since) + tonumber(ARGV[21])
      redis.call('XADD', KEYS[11], '*', ARGV[24], cjson.encode(warning))
    end
    for i = 25, 26 do
      if ARGV[i] ~= '' then redis.call('XADD', KEYS[11], '*', ARGV[24], ARGV[i]) end
    end
  end
  count_stats(KEYS[7], {ARGV[10], ARGV[11], ARGV[12], ARGV[13]}, failed)
end
local attempt = ARGV[5]
local log_suffix = ARGV[8]
if result == 2 and ARGV[22] ~= '' then
  attempt = ARGV[22]
  log_suffix = ARGV[23]
end
if message_exists then
  push_attempt(KEYS[2], ARGV[4], attempt, KEYS[6], ARGV[6], ARGV[7], log_suffix, ARGV[9],
    endpoint_exists)
end
-- Only failures (and lanes, which pass every tier) name a retry.
local retry_member = ARGV[19] or ''
if ARGV[14] == 'lane' then
  if redis.call('LINDEX', KEYS[12], 0) ~= ARGV[30] then return {result, 0} end
  if retry_member ~= '' and result ~= 2 then
    redis.call('LSET', KEYS[12], 0, ARGV[31])
    redis.call('ZADD', KEYS[13], ARGV[20], ARGV[29])
    return {result, 0}
  end
  redis.call('LPOP', KEYS[12])
  if redis.call('EXISTS', KEYS[12]) == 1 then
    redis.call('ZADD', KEYS[13], ARGV[3], ARGV[29])
    return {result, 1}
  end
  redis.call('ZREM', KEYS[13], ARGV[29])
  redis.call('SREM', KEYS[14], ARGV[32])
  return {result, 0}
end
-- No retry for an endpoint deleted meanwhile: nothing would deliver it.
if retry_member ~= '' and result ~= 2 and endpoint_exists then
  redis.call('ZADD', KEYS[10], ARGV[20], retry_member)
end
end_job(ARGV[14], KEYS[8], ARGV[16], ARGV[15], KEYS[9], ARGV[17], ARGV[18])
return {result, 0}
