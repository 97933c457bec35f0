#!lua flags=no-writes
-- upload_owner: may this uploader attach to the conversation?  KEYS = the
-- conversation, its joined set.  ARGV = site, role, id.  A visitor: its
-- own; an agent: assigned to it or joined; an admin: any of its site.
-- {0, conv} or {-1}.
local v = redis.call('HMGET', KEYS[1], 'site', 'visitor', 'agent')
if v[1] ~= ARGV[1] then return {-1} end
local role, id = ARGV[2], ARGV[3]
if role == 'visitor' and v[2] ~= id then return {-1} end
if role == 'agent' and v[3] ~= id
   and redis.call('SISMEMBER', KEYS[2], 'a:' .. id) == 0 then
  return {-1}
end
return {0, ARGV[4]}
