-- Stores the answer of a claimed Idempotency-Key (2xx), or releases the claim (anything else).
-- Only the owner that claimed the key may finish it.
-- KEYS[1] idempotency record
-- ARGV[1] owner token   ARGV[2] "store" | "release"   ARGV[3] status   ARGV[4] body   ARGV[5] ttl (ms)
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
if ARGV[2] == 'release' then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[3], 'body', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
