-- Notes when a token was last used, unless it was revoked meanwhile (nothing would ever
-- delete a recreated record again).
-- KEYS[1] the token's record   ARGV[1] now (epoch ms)
-- Returns 1 when written, 0 when the token no longer exists.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'lastUsed', ARGV[1])
return 1
