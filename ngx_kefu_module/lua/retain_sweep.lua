#!lua
-- retain sweep: KEYS = the sweep's state (kefu:{s:<site>}:retain), the
-- site's conversations (convs), its event stream.  ARGV = now (ms),
-- retention (ms), batch, lease (ms).  The site-level indexes that keys'
-- expiry cannot shorten, pruned a batch at a time (never a scan of the
-- keyspace), by one worker of all hosts per interval (the lease, field
-- "lease"): the conversations of convs whose last event is older than
-- the retention, read from a cursor (field "cursor") so that an old
-- conversation still open is passed over, are returned for the worker to
-- ask each one's slot whether its hash is gone (then retain_drop.lua
-- takes those out); the event stream loses the entries older than the
-- retention.  Returns {looked at, 1 when a full batch was read (run again
-- soon), events trimmed, conv, conv, ...}, or {-1} when another worker
-- holds the lease.
local now, batch = tonumber(ARGV[1]), tonumber(ARGV[3])
local rk = KEYS[1]
local lease = tonumber(redis.call('HGET', rk, 'lease') or '0')
if lease > now then return {-1} end
redis.call('HSET', rk, 'lease', string.format('%.0f', now + tonumber(ARGV[4])))
local cut = string.format('%.0f', now - tonumber(ARGV[2]))
local from = redis.call('HGET', rk, 'cursor') or '-inf'
local cs = redis.call('ZRANGEBYSCORE', KEYS[2], from, cut,
                      'WITHSCORES', 'LIMIT', 0, batch)
local looked = #cs / 2
local more = 0
if looked == batch then
  -- more to do: whichever worker comes next goes on at once
  more = 1
  redis.call('HSET', rk, 'cursor', cs[#cs])
  redis.call('HDEL', rk, 'lease')
else
  redis.call('HDEL', rk, 'cursor')
end
local trimmed = redis.call('XTRIM', KEYS[3], 'MINID', '~', cut,
                           'LIMIT', batch * 10)
local out = {looked, more, trimmed}
for i = 1, #cs, 2 do out[#out + 1] = cs[i] end
return out
