-- contact: ARGV = site, visitor id, contact JSON, ts, name ("" for none).
-- Stores the details with the visitor, tells the agent of its open
-- conversation, and puts visitor.contact on the site's event stream.
-- Returns the open conversation ("" for none).
--@include kefu_event
local sk = 'kefu:{s:' .. ARGV[1] .. '}:'
local vk = sk .. 'v:' .. ARGV[2]
redis.call('HSET', vk, 'contact', ARGV[3])
if ARGV[5] ~= '' then redis.call('HSET', vk, 'name', ARGV[5]) end
local conv = redis.call('HGET', vk, 'open') or ''
local c = cjson.decode(ARGV[3])
if conv ~= '' then
  local h = redis.call('HMGET', 'kefu:{c:' .. conv .. '}', 'agent',
                       'state')
  local v = {id = ARGV[2], contact = c}
  if ARGV[5] ~= '' then v.name = ARGV[5] end
  if h[1] then
    redis.call('PUBLISH', sk .. 'u:a:' .. h[1],
               '-|u|0|' .. cjson.encode({type = 'conv', conv = conv,
               state = h[2], reason = 'contact', visitor = v}))
  end
end
c.visitor = ARGV[2]
kefu_event(ARGV[1], 'visitor.contact', conv, '', ARGV[4], cjson.encode(c))
return conv
