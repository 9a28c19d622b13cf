-- Reschedules a delivery without counting an attempt, and ends its job for its stream entry
-- in the same step (acknowledgement when it is the entry's only job, else the endpoint's
-- mark in the entry's done set). Two places: the retry set, due at a time (a full queue, a
-- slow endpoint), or the endpoint's parked backlog (its circuit is open), which the retry
-- mover releases gradually (release.lua). Fenced: refused unless the caller holds the lease.
-- KEYS[1] retry sorted set, or the endpoint's parked set   KEYS[2] partition stream
-- KEYS[3] partition lease   KEYS[4] the entry's done set   KEYS[5] parked endpoints index
-- ARGV[1] member (encoded task)   ARGV[2] score: due time (ms) in the retry set, arrival
-- time (ms) in a parked set   ARGV[3] stream entry id
-- ARGV[4] "ack" | "ack_done" (the same, and delete the entry's done set) | "mark"
-- ARGV[5] consumer group   ARGV[6] lease token of the caller   ARGV[7] endpoint id
-- ARGV[8] done-set lifetime (s)   ARGV[9] "retry" | "park"   ARGV[10] when to look at the
-- parked endpoint again (ms; its probe time)   ARGV[11] its member of the parked index
-- Returns 1, or -1 when the lease is lost.
if redis.call('GET', KEYS[3]) ~= ARGV[6] then return -1 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if ARGV[9] == 'park' then
  -- The earlier of its current look and this probe time: a delivery parked again just
  -- before its probe time brings the look forward to it.
  redis.call('ZADD', KEYS[5], 'LT', ARGV[10], ARGV[11])
end
if ARGV[4] == 'ack' or ARGV[4] == 'ack_done' then
  redis.call('XACK', KEYS[2], ARGV[5], ARGV[3])
  redis.call('XDEL', KEYS[2], ARGV[3])
  if ARGV[4] == 'ack_done' then redis.call('DEL', KEYS[4]) end
else
  redis.call('SADD', KEYS[4], ARGV[7])
  redis.call('EXPIRE', KEYS[4], ARGV[8])
end
return 1
