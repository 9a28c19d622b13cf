-- Records many successful deliveries of jobs from the stream in one atomic step, each as
-- record_attempt.lua records one (the attempt, the endpoint's log, stats and health, the job's
-- end for its stream entry): a worker thread gathers the successes of its partitions' endpoint
-- actors while its previous call is in flight (src/dispatch/recorder.rs), so under load one
-- call carries many and each costs less (one call's overhead, shared arguments, one lease read
-- per partition). Each record is fenced by its own partition's lease: one whose lease is not
-- the caller's is refused, the others are recorded. Its functions are in record_common.lua,
-- put in front of it.
-- KEYS, 9 per record: the partition's lease, the message's attempts list, the message hash,
-- the endpoint hash, its health hash, its attempt log, its stats, the partition's stream and
-- the entry's done set.
-- ARGV[1] now (ms)   ARGV[2] retention (s)   ARGV[3..6] stats: the hour's bucket field and
-- id, the day's bucket field and id   ARGV[7] log member after the position (a success)
-- ARGV[8] consumer group   ARGV[9] done-set lifetime (s)
-- Then 8 per record: the lease token of the caller, the attempt JSON, when it started (ms),
-- the log member before the position, the oldest log score kept (ms, "" not to trim),
-- "ack" | "ack_done" | "mark" (see end_job), the stream entry id, the endpoint id.
-- Returns one integer per record: 1 recorded, -1 refused (the lease is lost).
local now = tonumber(ARGV[1])
local periods = {ARGV[3], ARGV[4], ARGV[5], ARGV[6]}
local leases = {}
local results = {}
for r = 0, #KEYS / 9 - 1 do
  local k, a = r * 9, 9 + r * 8
  local lease_key = KEYS[k + 1]
  if leases[lease_key] == nil then leases[lease_key] = redis.call('GET', lease_key) end
  if leases[lease_key] ~= ARGV[a + 1] then
    results[r + 1] = -1
  else
    local endpoint_exists, message_exists = existing(KEYS[k + 4], KEYS[k + 3])
    if endpoint_exists then
      note_success(KEYS[k + 5], ARGV[1], now)
      count_stats(KEYS[k + 7], periods, false)
    end
    if message_exists then
      push_attempt(KEYS[k + 2], ARGV[2], ARGV[a + 2], KEYS[k + 6], ARGV[a + 3], ARGV[a + 4],
        ARGV[7], ARGV[a + 5], endpoint_exists)
    end
    end_job(ARGV[a + 6], KEYS[k + 8], ARGV[8], ARGV[a + 7], KEYS[k + 9], ARGV[a + 8], ARGV[9])
    results[r + 1] = 1
  end
end
return results
