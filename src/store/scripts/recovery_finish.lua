-- Finishes a recovery job once: its final progress, the end of the endpoint's running-job
-- marker, and its recovery.finished event in the partition's outbox.
-- KEYS[1] the job's hash   KEYS[2] the endpoint's running-job marker   KEYS[3] partition outbox
-- ARGV[1] job id   ARGV[2] lifetime of the job (s)   ARGV[3] the outbox's event field
-- ARGV[4] the recovery.finished event   ARGV[5..] field, value... of the final progress
-- Returns 1 when finished now, 0 when it was finished already.
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('XADD', KEYS[3], '*', ARGV[3], ARGV[4])
return 1
