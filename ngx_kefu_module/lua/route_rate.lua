-- rate: ARGV 7.. = visitor id, conv ("" for the latest), score, comment.
--@include kefu_event
--@include route
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
local vid, conv = ARGV[7], ARGV[8]
if conv == '' then
  conv = redis.call('ZREVRANGE', R.sk .. 'v:' .. vid .. ':convs', 0, 0)[1]
  if not conv then return {-2, 'no conversation to rate'} end
end
local k = r_ck(conv)
local h = redis.call('HMGET', k, 'site', 'visitor', 'state', 'agent')
if h[1] ~= R.site or h[2] ~= vid then
  return {-2, 'not your conversation'}
end
if h[3] ~= 'closed' then return {-4, 'the conversation is not closed'} end
redis.call('HSET', k, 'score', ARGV[9], 'comment', ARGV[10], 'rated', R.tss)
local rt = {score = tonumber(ARGV[9]), comment = ARGV[10]}
kefu_event(R.site, 'conv.rated', conv, '', R.tss,
           cjson.encode({score = rt.score, comment = rt.comment,
                         agent = h[4], visitor = vid}))
return r_reply(0, {type = 'conv', conv = conv, state = 'closed',
                   rating = rt})
