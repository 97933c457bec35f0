-- api_conv: ARGV = site, conv, reader? ("a:<id>" for an agent's token:
-- only its conversation, open or closed by it, or one it joined).  {0} if there is no
-- such conversation of the site (or not the reader's), else {1, conv
-- hash, visitor hash, pages, assignments, joined}, the hashes as
-- field/value lists.
local k = 'kefu:{c:' .. ARGV[2] .. '}'
local h = redis.call('HGETALL', k)
local f = {}
for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
if f.site ~= ARGV[1] then return {0} end
if ARGV[3] and 'a:' .. (f.agent or '') ~= ARGV[3]
   and redis.call('SISMEMBER', k .. ':joined', ARGV[3]) == 0 then
  return {0}
end
local vk = 'kefu:{s:' .. ARGV[1] .. '}:v:' .. (f.visitor or '')
return {1, h, redis.call('HGETALL', vk),
        redis.call('LRANGE', vk .. ':pages', 0, -1),
        redis.call('LRANGE', k .. ':assignments', 0, -1),
        redis.call('SMEMBERS', k .. ':joined')}
