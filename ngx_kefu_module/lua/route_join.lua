#!lua
-- join: ARGV 8.. = conv, actor who, actor JSON.
--@include kefu_event
--@include route
--@include retain
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local conv, who = ARGV[8], ARGV[9]
local by = cjson.decode(ARGV[10])
local r = r_rec(conv)
if not r then return {-2, 'not a conversation of your site'} end
local h = {R.site, r.state, r.agent, r.visitor, r.group}
local n = {type = 'conv', conv = conv, state = h[2], group = h[5],
           visitor = r_visitor(h[4]), reason = 'joined'}
if h[3] then n.agent = r_agent(h[3]) end
-- who joined is kept in the record (j:<who>); one who joined before it
-- existed is in the conversation's set, read on one Redis
if redis.call('HSETNX', r_rk(conv), 'j:' .. who, '1') == 0
   or (R.one and redis.call('SISMEMBER', r_ck(conv) .. ':joined', who) == 1)
then
  return r_reply(1, n)
end
redis.call('ZADD', R.sk .. who .. ':convs', R.ts, conv)
r_trim(R.sk .. who .. ':convs')
r_entry(conv, {event = 'joined', by = by,
               text = (by.name or by.id) .. ' joined'}, 'conv.joined')
local a = r_ap(conv)
r_apl(a, 'j', who)
r_notice(who, n, R.sess)
return r_reply(0, n)
