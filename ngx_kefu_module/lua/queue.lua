#!lua flags=no-writes
-- queue: KEYS = a group's queue (kefu:{s:<site>}:q:<group>).  ARGV =
-- limit.  The agents' view of the queues (contract v2), first step: the
-- group's first conversations in order and how many were left out,
-- {more, conv, since, conv, since, ...}.  Each conversation's state and
-- preview are then read in its own slot (queue_item.lua) and its entry
-- written in the site's (queue_entry.lua), the calls pipelined.
local r = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1,
                     'WITHSCORES')
local out = {math.max(0, redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1]))}
for i = 1, #r do out[#out + 1] = r[i] end
return out
