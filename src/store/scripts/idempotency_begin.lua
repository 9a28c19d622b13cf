-- Claims an Idempotency-Key for one request, or reports what an earlier request left.
-- KEYS[1] idempotency record
-- ARGV[1] request fingerprint   ARGV[2] owner token   ARGV[3] claim lifetime (ms)
-- Returns {"claimed"} when this request must run; otherwise {state, fingerprint, status, body}
-- with state "pending" (another request is running) or "done" (a stored 2xx answer).
local rec = redis.call('HMGET', KEYS[1], 'state', 'fp', 'status', 'body')
if not rec[1] then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'fp', ARGV[1], 'owner', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'claimed'}
end
return {rec[1], rec[2] or '', rec[3] or '', rec[4] or ''}
