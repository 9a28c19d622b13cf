-- Publishes fields of an endpoint's health (its circuit state, its lowered rate), unless the
-- endpoint (or its application) was deleted meanwhile: nothing would ever delete a recreated
-- hash again. A circuit that opens from closed, or closes again, writes its event into the
-- partition's outbox (a repeated publication of the same state writes nothing).
-- KEYS[1] endpoint hash   KEYS[2] endpoint health hash   KEYS[3] partition outbox
-- ARGV[1] the circuit state published ("" = not a circuit change)
-- ARGV[2] the outbox's event field   ARGV[3] the endpoint.circuit_opened event
-- ARGV[4] the endpoint.circuit_closed event   ARGV[5..] field, value...
-- Returns 1 when written, 0 when the endpoint no longer exists.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local before = redis.call('HGET', KEYS[2], 'circuit')
if not before or before == '' then before = 'closed' end
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
if ARGV[1] == 'open' and before == 'closed' then
  redis.call('XADD', KEYS[3], '*', ARGV[2], ARGV[3])
elseif ARGV[1] == 'closed' and before ~= 'closed' then
  redis.call('XADD', KEYS[3], '*', ARGV[2], ARGV[4])
end
return 1
