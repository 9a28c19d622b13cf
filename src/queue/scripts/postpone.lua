-- Sends a delivery to the retry set without counting an attempt (a full queue, an open
-- circuit) and, for single-endpoint stream entries, acknowledges its entry in the same step.
-- KEYS[1] retry sorted set   KEYS[2] partition stream
-- ARGV[1] retry member   ARGV[2] due (ms)   ARGV[3] stream entry id to acknowledge ("" = none)
-- ARGV[4] consumer group of the stream
-- Returns 1.
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if ARGV[3] ~= '' then
  redis.call('XACK', KEYS[2], ARGV[4], ARGV[3])
  redis.call('XDEL', KEYS[2], ARGV[3])
end
return 1
