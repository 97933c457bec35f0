#!lua
-- presence up: an agent connection said hello.  ARGV 8.. = agent id, name,
-- groups (JSON array), capacity, state on a first connection, the
-- worker's lease token, the session (hex).  The connection's record is
-- added under the lease (again: nothing changes).
-- Returns {0, presence JSON}; its "assigned" lists the notices of what the
-- connecting agent was given (its subscriptions may be too young to hear
-- them).
--@include kefu_event
--@include route
--@include presence
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local aid, tok, sess = ARGV[8], ARGV[13], ARGV[14]
R.me = aid
local ak = R.sk .. 'a:' .. aid
local h = redis.call('HMGET', ak, 'state', 'conns', 'gone', 'groups')
redis.call('SADD', R.sk .. 'l:' .. tok, aid .. '|' .. sess)
redis.call('HSET', ak, 'name', ARGV[9], 'groups', ARGV[10],
           'capacity', ARGV[11])
redis.call('SADD', R.sk .. 'agents', aid)
if h[4] then
  for _, g in ipairs(cjson.decode(h[4])) do
    redis.call('SREM', R.sk .. 'g:' .. g, aid)
    redis.call('ZREM', R.sk .. 'f:' .. g, aid)
  end
end
for _, g in ipairs(cjson.decode(ARGV[10])) do
  redis.call('SADD', R.sk .. 'g:' .. g, aid)
end
p_add(aid, tok .. '|' .. sess)
local st = h[1]
if not st or st == 'offline' or ((tonumber(h[2]) or 0) <= 0
   and R.ts - (tonumber(h[3]) or 0) >= R.grace) then
  st = ARGV[12]
end
if st ~= h[1] then
  redis.call('HSET', ak, 'state', st)
  r_presence(aid, st, ARGV[6])
end
r_index(aid)
if st == 'online' then r_drain_agent(aid) end
local n = {type = 'presence', agent = aid, state = st}
if #R.mine > 0 then n.assigned = R.mine end
return r_reply(0, n)
