#!lua
-- idle sweep: KEYS = the sweep's state (kefu:{s:<site>}:idle), the site's
-- conversations (convs, scored by their last event).  ARGV = now (ms),
-- idle_close (ms), batch, lease (ms), the worker's token.  Conversations
-- nobody wrote in for the site's idle_close (docs/routing.md, "Idle
-- conversations"), found a batch at a time (never a scan) by one worker
-- of all hosts per interval (field "lease", its holder "owner"): the
-- entries of convs whose last event is after the cursor (field "cursor",
-- a ZRANGEBYSCORE bound: what was looked at before) and at or before now
-- - idle_close.  The worker asks each one's own slot for its state and
-- closes those still open (or with the bot) through route_close.lua with
-- the cut as guard; idle_done.lua then moves the cursor, so a batch whose
-- closes failed is read again.  Returns {cut, 1 when a full batch was
-- read (run again soon), where the cursor goes once done, conv, ...}, or
-- {-1} when another worker holds the lease.
local now, batch = tonumber(ARGV[1]), tonumber(ARGV[3])
local sk = KEYS[1]
local lease = tonumber(redis.call('HGET', sk, 'lease') or '0')
if lease > now then return {-1} end
redis.call('HSET', sk, 'lease', string.format('%.0f', now + tonumber(ARGV[4])),
           'owner', ARGV[5])
local cut = string.format('%.0f', now - tonumber(ARGV[2]))
local from = redis.call('HGET', sk, 'cursor') or '-inf'
local cs = redis.call('ZRANGEBYSCORE', KEYS[2], from, cut,
                      'WITHSCORES', 'LIMIT', 0, batch)
local n = #cs / 2
local more, to = 0, '(' .. cut
if n == batch then
  more = 1
  -- on from the last score, which may have more entries than were read;
  -- only a batch all of one millisecond moves past it
  to = cs[#cs]
  if cs[2] == cs[#cs] then to = '(' .. cs[#cs] end
end
local out = {cut, more, to}
for i = 1, #cs, 2 do out[#out + 1] = cs[i] end
return out
