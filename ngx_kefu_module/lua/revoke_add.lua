#!lua
-- revoke_add: KEYS[1] = kefu:{s:<site>}:revoked; ARGV = member
-- ("j:<jti>" or "s:<sub>"), until (ms), now (ms), the most entries, the
-- notice's head ("<site> <kind>"), the value.  The notice goes out on
-- kefu:{s:<site>}:revoke, named after KEYS[1] so that it shares its slot.  Expired
-- entries go first; an entry already there keeps the later expiry; the
-- key itself expires with its last entry.  {0} when the list is full,
-- else {1, until}.  Numbers stay strings: Lua would write a large one as
-- 1e+14.
local k, m, u = KEYS[1], ARGV[1], ARGV[2]
redis.call('ZREMRANGEBYSCORE', k, '-inf', ARGV[3])
local old = redis.call('ZSCORE', k, m)
if not old and redis.call('ZCARD', k) >= tonumber(ARGV[4]) then
  return {0}
end
if old and tonumber(old) > tonumber(u) then u = old end
redis.call('ZADD', k, u, m)
local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', k, top[2])
redis.call('PUBLISH', string.sub(k, 1, -8) .. 'revoke',
           ARGV[5] .. ' ' .. u .. ' ' .. ARGV[6])
return {1, u}
