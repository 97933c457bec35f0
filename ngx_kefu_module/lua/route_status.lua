#!lua
-- status: ARGV 8.. = agent id, state (online, away).  The presence JSON
-- returned lists in "assigned" the notices of what the agent was given.
--@include kefu_event
--@include route
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local aid, st = ARGV[8], ARGV[9]
R.me = aid
local ak = R.sk .. 'a:' .. aid
local n = {type = 'presence', agent = aid, state = st}
if redis.call('SISMEMBER', R.sk .. 'agents', aid) == 0 then
  return {-3, 'the agent has never connected'}
end
if redis.call('HGET', ak, 'state') == st then return r_reply(1, n) end
redis.call('HSET', ak, 'state', st)
r_presence(aid, st, R.sess)
r_index(aid)
if st == 'online' then r_drain_agent(aid) end
if #R.mine > 0 then n.assigned = R.mine end
return r_reply(0, n)
