-- Takes a free partition lease and bumps its fencing epoch.
-- KEYS[1] lease   KEYS[2] epoch counter
-- ARGV[1] node id   ARGV[2] lease lifetime (ms)
-- Returns the lease token "node:epoch", or false when another node holds the lease.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
local token = ARGV[1] .. ':' .. epoch
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
