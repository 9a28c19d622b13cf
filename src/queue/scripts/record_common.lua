-- Shared by record_attempt.lua and record_successes.lua: src/queue/record.rs puts this file
-- in front of each. Every format (attempt, log member, stats fields) is made by the caller;
-- these functions only add an attempt's list position and count into a stats bucket
-- ("<period id>:<successes>:<failures>", read by queue/log.rs).

-- Whether the endpoint and the message still exist: either may have been deleted while the
-- request was in flight, and what they own is then not recreated (nothing would ever delete
-- it again). One call answers both when both keys are there, as they nearly always are.
local function existing(endpoint_key, message_key)
  if redis.call('EXISTS', endpoint_key, message_key) == 2 then return true, true end
  return redis.call('EXISTS', endpoint_key) == 1, redis.call('EXISTS', message_key) == 1
end

-- A success ends the endpoint's failure streak. On an endpoint without failures the health is
-- rewritten at most once a second: a read costs less than a write (and writes go to the AOF
-- and the replicas).
local function note_success(health_key, now_arg, now)
  local health = redis.call('HMGET', health_key, 'consecutiveFailures', 'lastSuccess')
  if health[1] ~= '0' or now - (tonumber(health[2]) or 0) >= 1000 then
    redis.call('HSET', health_key, 'lastSuccess', now_arg, 'consecutiveFailures', 0, 'failingSince', '')
  end
end

-- Counts one attempt into the endpoint's hour and day buckets (one per hour of a day, one per
-- day of a month), a bucket started afresh when reused for a newer period: one read and one
-- write for both. `periods` holds the hour's field and id, then the day's field and id.
local function count_stats(stats_key, periods, failed)
  local buckets = redis.call('HMGET', stats_key, periods[1], periods[3])
  local fields = {}
  for i, first in ipairs({1, 3}) do
    local period, successes, failures = string.match(buckets[i] or '', '^(%d+):(%d+):(%d+)$')
    if period ~= periods[first + 1] then successes, failures = 0, 0 end
    if failed then failures = failures + 1 else successes = successes + 1 end
    fields[#fields + 1] = periods[first]
    fields[#fields + 1] = periods[first + 1] .. ':' .. successes .. ':' .. failures
  end
  redis.call('HSET', stats_key, unpack(fields))
end

-- Appends the attempt to the message's attempt list (whose lifetime is set with its first
-- attempt) and, while the endpoint exists, its member to the endpoint's log, trimmed by age
-- when `oldest_kept` (ms) is not "".
local function push_attempt(attempts_key, retention, attempt, log_key, started, before, after,
                            oldest_kept, endpoint_exists)
  local position = redis.call('RPUSH', attempts_key, attempt) - 1
  if position == 0 then redis.call('EXPIRE', attempts_key, retention) end
  if endpoint_exists then
    redis.call('ZADD', log_key, started, before .. position .. after)
    if oldest_kept ~= '' then redis.call('ZREMRANGEBYSCORE', log_key, '-inf', '(' .. oldest_kept) end
  end
end

-- Ends a job for its stream entry: "ack" (the entry's only job) acknowledges and deletes the
-- entry, "ack_done" also deletes its done set, "mark" (one of several jobs) adds the endpoint
-- to the entry's done set, so a redelivered entry skips it.
local function end_job(how, stream_key, group, entry, done_key, endpoint_id, done_ttl)
  if how == 'ack' or how == 'ack_done' then
    redis.call('XACK', stream_key, group, entry)
    redis.call('XDEL', stream_key, entry)
    if how == 'ack_done' then redis.call('DEL', done_key) end
  else
    redis.call('SADD', done_key, endpoint_id)
    redis.call('EXPIRE', done_key, done_ttl)
  end
end
