-- Records a new token of an organisation (never the token: its hash) and lists it.
-- KEYS[1] the token's record   KEYS[2] the organisation's tokens sorted set
-- ARGV[1] its list member   ARGV[2] when the record expires (epoch ms, "" = never)
-- ARGV[3..] field, value... of the record
-- Returns 1.
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if ARGV[2] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 1
