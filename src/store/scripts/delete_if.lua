-- Deletes a key only while it still holds the given value (a marker one owner may clear).
-- KEYS[1] the key   ARGV[1] the value
-- Returns 1 when deleted, 0 otherwise.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
