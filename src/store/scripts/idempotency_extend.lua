-- Extends the claim of an Idempotency-Key while its request runs, so a slow request is never
-- taken over by a retry. Only the owner that claimed the key may extend it, and only while
-- the request is still running.
-- KEYS[1] idempotency record
-- ARGV[1] owner token   ARGV[2] claim lifetime (ms)
-- Returns 1 when extended, 0 otherwise.
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
