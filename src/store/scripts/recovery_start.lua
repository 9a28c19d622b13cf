-- Starts a recovery job unless one is already running for the endpoint: at most one job per
-- endpoint at a time, so two clicks cannot resend everything twice.
-- KEYS[1] the endpoint's running-job marker   KEYS[2] the new job's hash
-- KEYS[3] the application's set of jobs (so its purge finds them)
-- ARGV[1] new job id   ARGV[2] lifetime of the job and its marker (s)   ARGV[3..] field, value...
-- Returns {1, new job id}, or {0, running job id}.
local running = redis.call('GET', KEYS[1])
if running then return {0, running} end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return {1, ARGV[1]}
