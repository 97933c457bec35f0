#!lua
-- rate: ARGV 8.. = visitor id, conv ("" for the latest), score, comment.
--@include kefu_event
--@include route
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local vid, conv = ARGV[8], ARGV[9]
if conv == '' then
  conv = redis.call('ZREVRANGE', R.sk .. 'v:' .. vid .. ':convs', 0, 0)[1]
  if not conv then return {-2, 'no conversation to rate'} end
end
local r = r_rec(conv)
if not r or r.visitor ~= vid then
  return {-2, 'not your conversation'}
end
if r.state ~= 'closed' then return {-4, 'the conversation is not closed'} end
r_set(conv, {score = ARGV[10], comment = ARGV[11], rated = R.tss})
local rt = {score = tonumber(ARGV[10]), comment = ARGV[11]}
r_event(conv, 'conv.rated',
        cjson.encode({score = rt.score, comment = rt.comment,
                      agent = r.agent, visitor = vid}))
return r_reply(0, {type = 'conv', conv = conv, state = 'closed',
                   rating = rt})
