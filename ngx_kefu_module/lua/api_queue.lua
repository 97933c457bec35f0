#!lua flags=no-writes
-- api_queue: KEYS = the group's queue.  ARGV = limit.  {length, then per
-- queued conversation conv, enqueued (ms)}, oldest first; each one's
-- visitor and creation are read next in its own slot (conv_fields.lua).
local out = {redis.call('ZCARD', KEYS[1])}
local r = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1,
                     'WITHSCORES')
for i = 1, #r do out[#out + 1] = r[i] end
return out
