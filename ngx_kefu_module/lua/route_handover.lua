#!lua
-- handover (transfer, assign): ARGV 8.. = conv, target agent ("" for a
-- group), target group, actor who, supervisor ("1"), mode ("transfer",
-- "assign", or "route": a rule's transfer to a group, which may move a
-- queued one too), actor JSON ({role, id, name}), "1" if the target
-- group is declared (configuration or settings).
--@include kefu_event
--@include route
--@include bot
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local conv, to, tg, who, sup, mode = ARGV[8], ARGV[9], ARGV[10], ARGV[11],
    ARGV[12], ARGV[13]
local by = cjson.decode(ARGV[14])
local r = r_rec(conv)
if not r then return {-2, 'not a conversation of your site'} end
local h = {R.site, r.state, r.agent, r.visitor, r.group, r.created}
local me = string.sub(who, 3)
if sup ~= '1' and not (string.sub(who, 1, 2) == 'a:' and h[3] == me) then
  return {-2, 'not your conversation'}
end
if h[2] == 'closed' then return {-4, 'the conversation is closed'} end
if mode == 'transfer' and h[2] ~= 'open' then
  return {-4, 'the conversation is not open'}
end
-- a rule's route (mode "route", to a group): a queued one goes to the
-- group's queue too (docs/automation.md)
if mode == 'route' and (to ~= '' or (h[2] ~= 'open' and h[2] ~= 'queued'))
then
  return {-4, 'the conversation is not open or queued'}
end
if to ~= '' then
  if redis.call('SISMEMBER', R.sk .. 'agents', to) == 0 then
    return {-3, 'no such agent'}
  end
  local t = redis.call('HMGET', R.sk .. 'a:' .. to, 'state', 'conns',
                       'load',
                       'capacity', 'last', 'gone')
  if t[1] ~= 'away' and not r_avail(t) then
    return {-4, 'the agent is offline'}
  end
  if t[1] == 'away' and (tonumber(t[2]) or 0) <= 0
     and R.ts - (tonumber(t[6]) or 0) >= R.grace then
    return {-4, 'the agent is offline'}
  end
  if to == h[3] then
    return r_reply(1, {type = 'conv', conv = conv, state = 'open',
                       agent = r_agent(to), group = h[5]})
  end
end
-- a group is known if declared (ARGV 15: the worker knows it so) or an
-- agent who signed in named it: a made-up one would be a dead end
if to == '' and ARGV[15] ~= '1'
   and redis.call('EXISTS', R.sk .. 'g:' .. tg) == 0 then
  return {-3, 'no such group'}
end
-- a supervisor's assign takes a conversation from the bot too
if h[2] == 'bot' then
  b_leave(conv, h[5], 'assigned')
  h[2] = 'queued'
end
local old = h[3]
if old then
  r_release(old, conv)
  redis.call('ZREM', R.sk .. 'a:' .. old .. ':convs', conv)
end
local result
if to ~= '' then
  local ta = r_agent(to)
  local n, an = r_assign(conv, to, mode == 'transfer' and 'transferred'
      or 'assigned', (mode == 'transfer' and 'transferred to ' or
      'assigned to ') .. (ta.name or to), by, '-', '-',
      mode == 'transfer' and 'conv.transferred' or 'conv.assigned')
  result = an
  if old then result = n end
else
  r_entry(conv, {event = 'transferred', group = tg, by = by,
                 text = 'transferred to group ' .. tg}, 'conv.transferred')
  if h[2] == 'queued' then r_dequeue(h[5], conv) end
  r_set(conv, {group = tg})
  local aid
  if redis.call('ZCARD', R.sk .. 'q:' .. tg) == 0 then
    aid = r_pick(tg, old)
  end
  if aid then
    if h[2] == 'queued' then
      r_set(conv, {state = 'open'})
      r_count('queued', 'open')
    end
    local n = r_assign(conv, aid, 'assigned', nil, nil, '-', '-')
    result = n
  else
    if h[2] == 'open' then r_count('open', 'queued') end
    local pos = r_enqueue(conv, tg, tonumber(h[6]) or R.ts)
    r_event(conv, 'conv.queued', cjson.encode({group = tg, position = pos}))
    R.skip[conv] = true
    result = r_queued(conv, tg, pos)
  end
end
if old then
  local st = {r.state, r.agent, r.group}
  local on = {type = 'conv', conv = conv, state = st[1], group = st[3],
              reason = 'transferred'}
  if st[2] then on.agent = r_agent(st[2]) end
  on.load = tonumber(redis.call('HGET', R.sk .. 'a:' .. old, 'load'))
  r_notice('a:' .. old, on, R.sess, 'l')
  if who == 'a:' .. old then result = on end
  r_drain_agent(old)
end
return b_reply(0, result)
