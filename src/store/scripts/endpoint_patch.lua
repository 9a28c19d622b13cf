-- Changes some fields of an endpoint that has not changed since the caller read it (pause,
-- resume, secret rotation), bumps the application's endpoint version, tells the partition
-- (a refresh entry), and, when asked, makes its parked backlog due for release at once (a
-- resume).
-- KEYS[1] application marker   KEYS[2] endpoint hash   KEYS[3] partition stream
-- KEYS[4] the partition's parked index
-- ARGV[1] the endpoint's `updated` as read ("" = whatever it is)   ARGV[2] the stream entry's
-- task field   ARGV[3] the refresh task   ARGV[4] its member of the parked index ("" = leave
-- the index alone)   ARGV[5] now (ms)   ARGV[6..] field, value...
-- Returns the stored hash (HGETALL); -3 no such endpoint; -5 it changed since it was read.
if redis.call('EXISTS', KEYS[2]) == 0 then return -3 end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[2], 'updated') ~= ARGV[1] then return -5 end
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
redis.call('HINCRBY', KEYS[1], 'ep_ver', 1)
redis.call('XADD', KEYS[3], '*', ARGV[2], ARGV[3])
if ARGV[4] ~= '' and redis.call('ZSCORE', KEYS[4], ARGV[4]) then
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[4])
end
return redis.call('HGETALL', KEYS[2])
