#!lua
-- label_put: with "kefu_redis cluster", a rule's labels copied onto the
-- conversation's routing record (the site's slot) after label.lua added
-- one in the conversation's, so that routing's notices carry them
-- (lib/route.lua, r_labels).  KEYS = the routing record
-- (kefu:{s:<site>}:r:<conv>); ARGV = the labels (a JSON array, as
-- label.lua returned them).  Labels only grow, so a shorter list (a call
-- that came late) leaves a longer one; a conversation without a record
-- (routed before the upgrade, or expired) gets none.  Returns 1 when
-- written, 0 when not.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ok, l = pcall(cjson.decode, ARGV[1])
if not ok or type(l) ~= 'table' then return 0 end
local h = redis.call('HGET', KEYS[1], 'labels')
if h then
  local ok2, o = pcall(cjson.decode, h)
  if ok2 and type(o) == 'table' and #o >= #l then return 0 end
end
redis.call('HSET', KEYS[1], 'labels', ARGV[1])
return 1
