-- route_new: routes the conversation open made (ARGV 4), after its first
-- message is stored (the last of a first message's three calls).  KEYS =
-- the visitor's record; ARGV as msg's (ngx_kefu_msg_argv()).  It takes
-- the conversation out of kefu:{s:<site>}:opening, where open listed it,
-- and routes it (lib/route.lua): to a free agent, or into the queue with
-- its place.  A
-- new conversation queued while nobody can answer (outside hours, ARGV
-- 24 "0", or nobody of its group online) is marked offline: the sender is
-- promised no place in line.  One routed already (by the sweep, for a
-- route_new late by more than 5 s, or by this call's repeat) is left as
-- it is.  Returns {code, notice (what the sender is told: open with its
-- agent, or queued with position; "" for nothing), groups whose queues
-- may still be drained}.
--@include kefu_event
--@include route
local function r_online(group)
  for _, aid in ipairs(redis.call('SMEMBERS', R.sk .. 'g:' .. group)) do
    local h = redis.call('HMGET', R.sk .. 'a:' .. aid, 'state', 'conns',
                         'load', 'capacity', 'last', 'gone')
    if r_avail(h) then return true end
  end
  return false
end
r_init(ARGV[1], ARGV[8], ARGV[17], ARGV[18], ARGV[15], ARGV[16])
local role, conv = ARGV[3], ARGV[4]
local ckey = r_ck(conv)
local h = redis.call('HMGET', ckey, 'state', 'group', 'agent', 'site')
if h[4] ~= R.site or not h[2] then return {1, '', ''} end
if redis.call('ZREM', R.sk .. 'opening', conv) == 0
   or h[1] ~= 'queued' then
  if h[1] == 'open' and h[3] then
    return r_reply(0, {type = 'conv', conv = conv, state = 'open',
                       agent = r_agent(h[3]), group = h[2],
                       reason = 'assigned'})
  end
  return {1, '', ''}
end
local n = r_route(conv, h[2], ARGV[16])
if n.state == 'queued' and role == 'visitor' then
  local on = ARGV[24] ~= '0' and r_online(h[2])
  if not on then
    n.position, n.eta, n.offline = nil, nil, true
    redis.call('HSET', ckey, 'offline', '1')
  end
end
return r_reply(0, n)
