#!lua flags=no-writes
-- api_conv: KEYS = the conversation, its assignments, its joined set.
-- ARGV = site, conv, reader? ("a:<id>" for an agent's token: only its
-- conversation, open or closed by it, or one it joined).  {0} if there is
-- no such conversation of the site (or not the reader's), else {1, conv
-- hash, assignments, joined}, the hash as a field/value list; the
-- visitor's hash and pages are read next in the site's slot
-- (api_visitor.lua).
local h = redis.call('HGETALL', KEYS[1])
local f = {}
for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
if f.site ~= ARGV[1] then return {0} end
if ARGV[3] and 'a:' .. (f.agent or '') ~= ARGV[3]
   and redis.call('SISMEMBER', KEYS[3], ARGV[3]) == 0 then
  return {0}
end
return {1, h, redis.call('LRANGE', KEYS[2], 0, -1),
        redis.call('SMEMBERS', KEYS[3])}
