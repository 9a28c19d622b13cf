-- Renews a lease only while the caller still holds it (same token, so same epoch).
-- KEYS[1] lease   ARGV[1] token   ARGV[2] lease lifetime (ms)
-- Returns 1 when renewed, 0 when the lease is lost.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
