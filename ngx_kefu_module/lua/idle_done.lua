#!lua
-- idle done: KEYS = the idle sweep's state (kefu:{s:<site>}:idle).  ARGV
-- = the worker's token, the cursor (a ZRANGEBYSCORE bound), 1 when more
-- is to come.  The batch idle_sweep.lua gave this worker was looked at
-- and its closes made: the cursor moves on, if the lease is still this
-- worker's (one that lapsed meanwhile leaves the cursor to its new
-- holder).  With more to come the lease goes, so whichever worker comes
-- next goes on at once.  Returns 1, or 0 when the lease was not its.
local sk = KEYS[1]
if redis.call('HGET', sk, 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', sk, 'cursor', ARGV[2])
if ARGV[3] == '1' then redis.call('HDEL', sk, 'lease') end
return 1
