#!lua
-- retain drop: KEYS = the site's conversations (convs), its counts, the
-- marks of its events (event_put's, kefu:{s:<site>}:ev: a gone
-- conversation's goes with it).
-- ARGV = conversations whose hash is gone (each was closed: the site's
-- count of closed ones goes down).  A conversation gone stays gone (its
-- id is never used again), so a drop that comes late or twice is right:
-- only one actually taken out of the index is counted.  Returns how many.
local removed = 0
for _, c in ipairs(ARGV) do
  redis.call('HDEL', KEYS[3], c)
  if redis.call('ZREM', KEYS[1], c) == 1 then
    if redis.call('HINCRBY', KEYS[2], 'closed', -1) < 0 then
      redis.call('HSET', KEYS[2], 'closed', 0)
    end
    removed = removed + 1
  end
end
return removed
