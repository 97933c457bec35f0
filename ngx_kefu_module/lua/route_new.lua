#!lua
-- route_new: routes the conversation open made (ARGV 4), after its first
-- message is stored (the last of a first message's three calls).  KEYS =
-- the visitor's record (the site's slot, by which the call is routed);
-- ARGV as msg's (ngx_kefu_msg_argv()).  It takes the conversation out of
-- kefu:{s:<site>}:opening, where open listed it, and routes it
-- (lib/route.lua): to a free agent, or into the queue with its place.  A
-- new conversation queued while nobody can answer (outside hours, ARGV
-- 24 "0", or nobody of its group online) is marked offline: the sender is
-- promised no place in line.  One routed already (by the sweep, for a
-- route_new late by more than 5 s, or by this call's repeat) is left as
-- it is.  Returns {code, notice (what the sender is told: open with its
-- agent, or queued with position; "" for nothing), groups whose queues
-- may still be drained, 0, the conversations' sides to apply (a cluster,
-- ARGV 32 "2": conv, payload, ...; the worker runs conv_apply and
-- route_put for each before it answers)}.
-- A conversation open made in state bot is left alone (not routed): the
-- agents of its group only hear it enter the bot, now that its first
-- message is there for their notice's preview.
-- It reads the conversation's routing record, never the conversation:
-- the site's slot only (docs/storage.md, "Routing in two steps").
--@include kefu_event
--@include route
--@include bot
r_init(ARGV[1], ARGV[8], ARGV[17], ARGV[18], ARGV[15], ARGV[16], ARGV[32])
local role, conv = ARGV[3], ARGV[4]
local rec = r_rec(conv)
if not rec or not rec.group then return {1, '', ''} end
local h = {rec.state, rec.group, rec.agent}
if h[1] == 'bot' then
  b_announce(conv, h[2])
  return b_reply(1, nil)
end
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
    r_set(conv, {offline = '1'})
  end
end
return r_reply(0, n)
