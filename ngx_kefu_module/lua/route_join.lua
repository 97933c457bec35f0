-- join: ARGV 7.. = conv, actor who, actor JSON.
--@include kefu_event
--@include route
--@include retain
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
local conv, who = ARGV[7], ARGV[8]
local by = cjson.decode(ARGV[9])
local k = r_ck(conv)
local h = redis.call('HMGET', k, 'site', 'state', 'agent', 'visitor',
                     'group')
if h[1] ~= R.site then return {-2, 'not a conversation of your site'} end
local n = {type = 'conv', conv = conv, state = h[2], group = h[5],
           visitor = r_visitor(h[4]), reason = 'joined'}
if h[3] then n.agent = r_agent(h[3]) end
if redis.call('SADD', k .. ':joined', who) == 0 then
  return r_reply(1, n)
end
redis.call('ZADD', R.sk .. who .. ':convs', R.ts, conv)
k_trim(R.sk .. who .. ':convs')
local seq, j = r_entry(conv, {event = 'joined', by = by,
                              text = (by.name or by.id) .. ' joined'})
kefu_event(R.site, 'conv.joined', conv, seq, R.tss, j)
k_follow(conv)
r_notice(who, n, R.sess)
return r_reply(0, n)
