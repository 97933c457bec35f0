#!lua
-- drain: ARGV 8 = JSON array of groups whose queues may have free agents.
--@include kefu_event
--@include route
r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
for _, g in ipairs(cjson.decode(ARGV[8])) do r_drain(g) end
return r_reply(0)
