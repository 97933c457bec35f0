#!lua
-- presence down: ARGV 8.. = agent id, lease token, session.  The
-- connection's record goes (again: nothing changes); the last one starts
-- the grace period.  Returns {0, ""}.
--@include kefu_event
--@include route
--@include presence
r_init(ARGV[1], ARGV[2], '', ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local aid, tok, sess = ARGV[8], ARGV[9], ARGV[10]
redis.call('SREM', R.sk .. 'l:' .. tok, aid .. '|' .. sess)
p_del(aid, tok .. '|' .. sess, p_now())
return {0, ''}
