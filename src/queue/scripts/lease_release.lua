-- Releases a lease only if the caller still holds it.
-- KEYS[1] lease   ARGV[1] token
-- Returns 1 when released, 0 otherwise.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
