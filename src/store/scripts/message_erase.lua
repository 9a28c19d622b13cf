-- Erases a message's payload: the message (without it), its attempts and its list entry stay.
-- KEYS[1] message hash   ARGV[1] now (ms)
-- Returns the message's hash (HGETALL), or -3 when there is no such message.
if redis.call('EXISTS', KEYS[1]) == 0 then return -3 end
redis.call('HDEL', KEYS[1], 'payload')
if not redis.call('HGET', KEYS[1], 'erased') then redis.call('HSET', KEYS[1], 'erased', ARGV[1]) end
return redis.call('HGETALL', KEYS[1])
