-- retain sweep: ARGV = site, now (ms), retention (ms), batch, lease (ms).
-- The site-level indexes that keys' expiry cannot shorten, pruned a batch
-- at a time (never a scan of the keyspace), by one worker of all hosts per
-- interval (the lease, field "lease" of kefu:{s:<site>}:retain):
-- kefu:{s:<site>}:convs loses the conversations whose keys expired (their
-- last event older than the retention, their hash gone; each was closed,
-- so the site's count of closed ones goes down), read from a cursor
-- (field "cursor") so that an old conversation still open is passed over;
-- the site's event stream loses the entries older than the retention.
-- Returns {looked at, removed, 1 when a full batch was read (run again
-- soon), events trimmed}, or {-1} when another worker holds the lease.
local sk = 'kefu:{s:' .. ARGV[1] .. '}:'
local now, batch = tonumber(ARGV[2]), tonumber(ARGV[4])
local rk = sk .. 'retain'
local lease = tonumber(redis.call('HGET', rk, 'lease') or '0')
if lease > now then return {-1} end
redis.call('HSET', rk, 'lease', string.format('%.0f', now + tonumber(ARGV[5])))
local cut = string.format('%.0f', now - tonumber(ARGV[3]))
local from = redis.call('HGET', rk, 'cursor') or '-inf'
local cs = redis.call('ZRANGEBYSCORE', sk .. 'convs', from, cut,
                      'WITHSCORES', 'LIMIT', 0, batch)
local looked, removed = #cs / 2, 0
for i = 1, #cs, 2 do
  if redis.call('EXISTS', 'kefu:{c:' .. cs[i] .. '}') == 0 then
    redis.call('ZREM', sk .. 'convs', cs[i])
    if redis.call('HINCRBY', sk .. 'counts', 'closed', -1) < 0 then
      redis.call('HSET', sk .. 'counts', 'closed', 0)
    end
    removed = removed + 1
  end
end
local more = 0
if looked == batch then
  -- more to do: whichever worker comes next goes on at once
  more = 1
  redis.call('HSET', rk, 'cursor', cs[#cs])
  redis.call('HDEL', rk, 'lease')
else
  redis.call('HDEL', rk, 'cursor')
end
local trimmed = redis.call('XTRIM', sk .. 'events', 'MINID', '~', cut,
                           'LIMIT', batch * 10)
return {looked, removed, more, trimmed}
