#!lua
-- sweep: grace deadlines that passed (ARGV 8 = how many at most), and new
-- conversations left unrouted (below).  Each is
-- claimed (removed) in this atomic step, so exactly one worker of any host
-- acts on it: if the agent still has no connection it goes offline and its
-- open conversations go back to the front of their queues.  Returns
-- {0, "", more, again, agents made offline, conversations requeued}:
-- again 1 when ids ran out before all were done (the rest stays due).
--@include kefu_event
--@include route
--@include presence
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local G = R.sk .. 'grace'
local now = p_now()
local again, groups, expired, requeued = 0, {}, 0, 0
for _, aid in ipairs(redis.call('ZRANGEBYSCORE', G, '-inf', now,
                                'LIMIT', 0, tonumber(ARGV[8]))) do
  local ak = R.sk .. 'a:' .. aid
  local h = redis.call('HMGET', ak, 'conns', 'state')
  if (tonumber(h[1]) or 0) == 0 then
    if h[2] ~= 'offline' then
      redis.call('HSET', ak, 'state', 'offline')
      r_presence(aid, 'offline')
      r_index(aid)
      expired = expired + 1
    end
    for _, c in ipairs(redis.call('SMEMBERS', ak .. ':open')) do
      if r_left() < 2 then again = 1 break end
      r_release(aid, c)
      redis.call('ZREM', ak .. ':convs', c)
      local r = r_rec(c) or {}
      local ch = {r.state, r.group, r.created, r.agent}
      if ch[1] == 'open' and ch[4] == aid then
        r_count('open', 'queued')
        r_entry(c, {event = 'requeued', agent = r_agent(aid),
            text = 'the agent went offline; waiting for another agent'},
            'conv.queued')
        r_enqueue(c, ch[2], tonumber(ch[3]) or R.ts)
        groups[ch[2]] = 1
        requeued = requeued + 1
        r_notice('a:' .. aid, {type = 'conv', conv = c, state = 'queued',
                 group = ch[2], reason = 'requeued'}, '-', 'l')
      end
    end
  end
  if again == 1 then break end
  redis.call('ZREM', G, aid)
end
-- new conversations open made and route_new did not route within 5 s (its
-- worker died between the calls): routed here, once (claimed by ZREM)
local O = R.sk .. 'opening'
if again == 0 then
  for _, c in ipairs(redis.call('ZRANGEBYSCORE', O, '-inf', now - 5000,
                                'LIMIT', 0, tonumber(ARGV[8]))) do
    if r_left() < 2 then again = 1 break end
    redis.call('ZREM', O, c)
    local r = r_rec(c) or {}
    if r.state == 'queued' and r.group then
      r_route(c, r.group, '-')
    end
  end
end
for g in pairs(groups) do r_drain(g) end
local r = r_reply(0)
r[4], r[6], r[7] = again, expired, requeued
-- two-step: the conversations' sides not applied 2 s after their step
-- (the worker that made it died, or its call failed) are replayed from
-- their records, each claimed for another 2 s by this sweep
if not R.one then
  local ap = R.sk .. 'apply'
  for _, c in ipairs(redis.call('ZRANGEBYSCORE', ap, '-inf',
                                R.ts - 2000, 'LIMIT', 0, 50)) do
    local p = redis.call('HGET', r_rk(c), 'ap')
    if p then
      redis.call('ZADD', ap, 'XX', R.tss, c)
      r[5][#r[5] + 1] = c
      r[5][#r[5] + 1] = p
    else
      redis.call('ZREM', ap, c)
    end
  end
end
return r
