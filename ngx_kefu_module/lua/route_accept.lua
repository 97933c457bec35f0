#!lua
-- accept: ARGV 8.. = agent id, conv, name.  A queued conversation of the
-- site becomes the agent's; so does one in state bot (the agent takes it
-- over from the bot).
--@include kefu_event
--@include route
--@include bot
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local aid, conv = ARGV[8], ARGV[9]
local r = r_rec(conv)
if not r then return {-2, 'not a conversation of your site'} end
local h = {R.site, r.state, r.agent, r.visitor, r.group}
if h[3] == aid and h[2] == 'open' then
  return r_reply(1, {type = 'conv', conv = conv, state = 'open',
                     agent = r_agent(aid), group = h[5],
                     visitor = r_visitor(h[4]), reason = 'accepted'})
end
if h[2] == 'bot' then
  b_leave(conv, h[5], 'accepted')
  h[2] = 'queued'
end
if h[2] ~= 'queued' then return {-4, 'the conversation is not queued'} end
if not redis.call('HGET', R.sk .. 'a:' .. aid, 'name') then
  redis.call('HSET', R.sk .. 'a:' .. aid, 'name', ARGV[10])
end
local a = r_agent(aid)
local n, an = r_assign(conv, aid, 'accepted', 'conversation accepted by ' ..
                       (a.name or aid), nil, '-', R.sess)
return b_reply(0, an)
