#!lua
-- lease renew, once per tick and site: KEYS = the site's leases; ARGV = site, now, token, lease time
-- (ms), grace (ms), "1" if this worker held the lease before.  Lapsed
-- leases of others lose their records; this one is extended.  If this
-- worker's own lease had lapsed too, Redis (or this worker's link to it)
-- was away: a lapse is then no proof that a worker died, and every lapsed
-- lease gets one more lease time to be renewed.  Returns {lost (the own
-- lease had lapsed: its records must be asserted again), leases purged,
-- grace deadlines due, new conversations left unrouted and unapplied
-- routing steps (route_sweep)}.
--@include kefu_event
--@include route
--@include presence
r_init(ARGV[1], ARGV[2], '', ARGV[5], '0', '-')
local tok, ttl = ARGV[3], tonumber(ARGV[4])
local now = p_now()
local L = R.sk .. 'leases'
local s = redis.call('ZSCORE', L, tok)
local lost = 0
if ARGV[6] == '1' and (not s or tonumber(s) <= now) then lost = 1 end
local purged = 0
for _, l in ipairs(redis.call('ZRANGEBYSCORE', L, '-inf', now,
                              'LIMIT', 0, 50)) do
  if lost == 1 then
    redis.call('ZADD', L, now + ttl, l)
  elseif l ~= tok then
    p_purge(l, now)
    purged = purged + 1
  end
end
redis.call('ZADD', L, now + ttl, tok)
-- the route sweep runs for grace deadlines due and for conversations'
-- sides left unapplied for 2 s (routing in two steps: a cluster)
local due = redis.call('ZCOUNT', R.sk .. 'grace', '-inf', now)
            + redis.call('ZCOUNT', R.sk .. 'opening', '-inf', now - 5000)
            + redis.call('ZCOUNT', R.sk .. 'apply', '-inf',
                         string.format('%.0f', tonumber(ARGV[2]) - 2000))
return {lost, purged, due}
