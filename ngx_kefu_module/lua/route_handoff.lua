#!lua
-- handoff: ARGV 8.. = conv ("" for the visitor's open one), who ("v:<id>":
-- a visitor asks, the conversation must be its own; "" for the API, a rule
-- or the bot), by (visitor, api, rule, bot), text (the system entry's:
-- bot.texts.<lang>.handed_off, "" for the built-in one), "0" when the site
-- is outside its business hours.  A conversation
-- in state bot leaves it and is routed like a new one (r_route(): open
-- with a free agent, else queued), with a system entry event "handoff"
-- that everyone sees; queued while nobody can answer (outside hours,
-- nobody of its group online) it is marked offline as a new one is
-- (lua/msg.lua), and the visitor told so.  Not in bot: nothing changes
-- (code 1) and the
-- current conv notice comes back.  Returns the notice with "changed".
--@include kefu_event
--@include route
--@include bot
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local conv, who, by, text = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local visitor = string.sub(who, 1, 2) == 'v:'
if conv == '' then
  if not visitor then return {-1, '"conv" is required'} end
  conv = redis.call('HGET', R.sk .. who, 'open')
  if not conv then return {-2, 'no open conversation'} end
end
local r = r_rec(conv)
if not r then return {-2, 'not a conversation of your site'} end
local h = {R.site, r.state, r.agent, r.visitor, r.group}
if visitor and who ~= 'v:' .. (h[4] or '') then
  return {-2, 'not your conversation'}
end
if h[2] == 'closed' then return {-4, 'the conversation is closed'} end
if h[2] ~= 'bot' then
  local n = {type = 'conv', conv = conv, state = h[2], group = h[5],
             changed = false}
  if h[3] then n.agent = r_agent(h[3]) end
  if h[2] == 'queued' then
    if r.offline == '1' then
      n.offline = true
    else
      local rank = redis.call('ZRANK', R.sk .. 'q:' .. h[5], conv)
      if rank then n.position = rank + 1 end
    end
  end
  return r_reply(1, n)
end
b_leave(conv, h[5], 'handoff')
r_entry(conv, {event = 'handoff', by = by,
    text = text ~= '' and text or 'handed off to a person'}, 'conv.handoff')
local n = r_route(conv, h[5], visitor and R.sess or '-')
if n.state == 'queued' and (ARGV[12] == '0' or not r_online(h[5])) then
  n.position, n.eta, n.offline = nil, nil, true
  r_set(conv, {offline = '1'})
  -- after the queue's notice (its position): no place is promised
  r_notice('v:' .. h[4], n, visitor and R.sess or '-')
end
n.changed = true
return b_reply(0, n)
