#!lua
-- contact: KEYS = the visitor (kefu:{s:<site>}:v:<id>), the site's event
-- stream.  ARGV = site, visitor id, contact JSON, ts, name ("" for none).
-- Stores the details with the visitor and puts visitor.contact on the
-- site's event stream, all in the site's slot.  Returns the visitor's
-- open conversation ("" for none), whose agent the worker then tells by
-- calls of their own (the conversation's hash is in its own slot:
-- ngx_kefu_avail.c).
--@include kefu_event
local vk = KEYS[1]
K.events = KEYS[2]
redis.call('HSET', vk, 'contact', ARGV[3])
if ARGV[5] ~= '' then redis.call('HSET', vk, 'name', ARGV[5]) end
local conv = redis.call('HGET', vk, 'open') or ''
local c = cjson.decode(ARGV[3])
c.visitor = ARGV[2]
kefu_event(ARGV[1], 'visitor.contact', conv, '', ARGV[4], cjson.encode(c))
return conv
