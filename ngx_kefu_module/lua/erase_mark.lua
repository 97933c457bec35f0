#!lua
-- erase_mark: KEYS = the site's marks of its messages' events
-- (kefu:{s:<site>}:ev, event_put.lua), the site's erased conversations
-- (kefu:{s:<site>}:erased: conv scored by when, in seconds); ARGV = conv,
-- now (seconds), how long a conversation stays there (seconds).
-- An erased conversation's mark goes and the conversation goes into the
-- erased set in the same step: an event_put that comes later (a worker's
-- retry after a failover, up to a minute late) finds no mark, then the
-- conversation there, and puts nothing back (no event, no entry in the
-- site's list, no mark, no visitor kept alive).  Those erased longer ago
-- than the window leave the set whenever one is added, and the set
-- expires a window after the last erasure: it holds no one for long.
local now, keep = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - keep))
redis.call('EXPIRE', KEYS[2], keep)
return 1
