#!lua
-- close: ARGV 8.. = conv, actor who, supervisor ("1"), actor JSON,
-- retention (s): the conversation's keys expire that long after, and its
-- visitor's record is kept its own ttl from now (the retention if it has
-- none); for the idle sweep also the cut (ms) and the entry's text: then
-- only an open (or bot) conversation whose last event (its score in the
-- site's convs) is at or before the cut is closed, checked in this same
-- step, so one that just got a message stays open ({1, ''} otherwise).
--@include kefu_event
--@include route
--@include retain
--@include bot
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local conv, who, sup = ARGV[8], ARGV[9], ARGV[10]
local by = cjson.decode(ARGV[11])
local r = r_rec(conv)
if not r then return {-2, 'not a conversation of your site'} end
local h = {R.site, r.state, r.agent, r.visitor, r.group}
if sup ~= '1' and not (string.sub(who, 1, 2) == 'a:'
                       and h[3] == string.sub(who, 3)) then
  return {-2, 'not your conversation'}
end
local n = {type = 'conv', conv = conv, state = 'closed', group = h[5],
           reason = 'closed'}
if h[3] then n.agent = r_agent(h[3]) end
if h[2] == 'closed' then return r_reply(1, n) end
local text = 'conversation closed'
if ARGV[13] and ARGV[13] ~= '' then
  if h[2] ~= 'open' and h[2] ~= 'bot' then return r_reply(1) end
  local last = tonumber(redis.call('ZSCORE', R.sk .. 'convs', conv) or '')
  if not last or last > tonumber(ARGV[13]) then return r_reply(1) end
  n.reason, text = 'idle', ARGV[14]
end
if h[2] == 'queued' then
  r_dequeue(h[5], conv)
  r_count('queued', 'closed')
elseif h[2] == 'bot' then
  b_leave(conv, h[5], 'closed', 'closed')
else
  r_release(h[3], conv)
  r_count('open', 'closed')
end
r_set(conv, {state = 'closed', closed = R.tss})
local vk = R.sk .. 'v:' .. h[4]
if redis.call('HGET', vk, 'open') == conv then
  redis.call('HDEL', vk, 'open')
end
r_entry(conv, {event = 'closed', by = by, text = text}, 'conv.closed')
-- the conversation's keys and its record expire together
r_ap(conv).x = tonumber(ARGV[12])
k_visitor(vk, ARGV[12])
r_notice('v:' .. h[4], n, R.sess)
if h[3] then
  local an = {type = 'conv', conv = conv, state = 'closed', group = h[5],
              reason = n.reason, agent = n.agent, visitor = r_visitor(h[4]),
              load = tonumber(redis.call('HGET', R.sk .. 'a:' .. h[3],
                                         'load'))}
  r_notice('a:' .. h[3], an, R.sess)
  if who == 'a:' .. h[3] then n = an end
  r_drain_agent(h[3])
end
return b_reply(0, n)
