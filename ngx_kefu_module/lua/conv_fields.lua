#!lua flags=no-writes
-- conv_fields: KEYS = a conversation.  ARGV = the fields wanted.  Their
-- values ("" for one not set), or {} when the conversation is gone: one
-- listed conversation's row, read in its own slot after its index was
-- read in the site's (api_list.lua, api_queue.lua), the calls pipelined.
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local h = redis.call('HMGET', KEYS[1], unpack(ARGV))
for i = 1, #ARGV do h[i] = h[i] or '' end
return h
