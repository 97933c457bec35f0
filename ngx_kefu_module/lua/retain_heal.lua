#!lua
-- retain heal: KEYS = a conversation's hash, log, joined, assignments
-- (k_keys() of lib/retain.lua).  ARGV = seconds.  A conversation that
-- 0.1.0 closed has no expiry (this version's close gives its keys one,
-- route_close.lua), so the retention sweep, which drops only those gone,
-- would pass it over for ever.  The sweep asks here of the closed ones
-- whose last event is older than the retention: their time is up, so
-- their keys expire in ARGV[1] seconds and the next sweep drops them.
-- One that already expires (closed by this version; the retention since
-- shortened) keeps its time.  Returns 1 when it set the expiry, else 0.
if redis.call('PTTL', KEYS[1]) ~= -1
   or redis.call('HGET', KEYS[1], 'state') ~= 'closed' then
  return 0
end
for _, k in ipairs(KEYS) do redis.call('EXPIRE', k, ARGV[1]) end
return 1
