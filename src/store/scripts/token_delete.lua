-- Removes a token's record and its list entry (its lookup is deleted first, by the caller).
-- KEYS[1] the token's record   KEYS[2] the organisation's tokens sorted set
-- ARGV[1] its list member
-- Returns 1.
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
