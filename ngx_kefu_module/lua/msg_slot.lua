#!lua
-- msg_slot: a message stored with "kefu_redis cluster": KEYS = the
-- conversation's hash (kefu:{c:<conv>}, by which the call is routed), and
-- only its slot's keys are touched (lib/msg.lua without here); ARGV as
-- msg's (ngx_kefu_msg_argv()).  The event follows by lua/event_put.lua.
--@include msg
return m_run(false)
