-- Accepts a message in one atomic step: uid reservation, message hash (with retention),
-- list entry (trimming entries past retention), the work entry on the partition stream and,
-- for a request with an Idempotency-Key, the key's reservation, so a retry of that request
-- can never create the message twice, even after a crash before its answer was stored. A
-- message to fan out in an application without any endpoint gets no stream entry: it has
-- nowhere to go (many applications of a platform never register one), so no worker needs to
-- read, route and acknowledge it.
-- KEYS[1] application marker   KEYS[2] message hash   KEYS[3] messages sorted set
-- KEYS[4] uid key (any key of the slot when there is no uid)   KEYS[5] partition stream
-- KEYS[6] Idempotency-Key reservation (any key of the slot when there is none)
-- KEYS[7] the application's endpoints sorted set
-- ARGV[1] message id   ARGV[2] list member   ARGV[3] retention (s)
-- ARGV[4] oldest kept member ("" = do not trim the list this time)   ARGV[5] uid ("" = none)
-- ARGV[6] the stream entry's task field   ARGV[7] the encoded task (queue/task.rs)
-- ARGV[8] organisation of the caller   ARGV[9] reservation lifetime (s, "" = no key)
-- ARGV[10] "1" when the task fans out (it may be skipped when there is no endpoint), "" for a
-- task to one endpoint   ARGV[11..] field, value... of the message hash (its optional fields
-- only when set)
-- Returns 1; -1 uid already used by a message of this application; -2 no such application
-- in the caller's organisation; or the id of the message an earlier request with the same
-- Idempotency-Key created.
if redis.call('HGET', KEYS[1], 'org') ~= ARGV[8] then return -2 end
if ARGV[9] ~= '' then
  local earlier = redis.call('GET', KEYS[6])
  if earlier then return earlier end
end
if ARGV[5] ~= '' then
  if not redis.call('SET', KEYS[4], ARGV[1], 'NX', 'EX', ARGV[3]) then return -1 end
end
redis.call('HSET', KEYS[2], unpack(ARGV, 11))
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
if ARGV[4] ~= '' then redis.call('ZREMRANGEBYLEX', KEYS[3], '-', '(' .. ARGV[4]) end
if ARGV[10] == '' or redis.call('ZCARD', KEYS[7]) > 0 then
  redis.call('XADD', KEYS[5], '*', ARGV[6], ARGV[7])
end
if ARGV[9] ~= '' then redis.call('SET', KEYS[6], ARGV[1], 'EX', ARGV[9]) end
return 1
