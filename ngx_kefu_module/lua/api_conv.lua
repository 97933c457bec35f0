-- api_conv: ARGV = site, conv.  {0} if there is no such conversation of
-- the site, else {1, conv hash, visitor hash, pages, assignments,
-- joined}, the hashes as field/value lists.
local k = 'kefu:{c:' .. ARGV[2] .. '}'
local h = redis.call('HGETALL', k)
local f = {}
for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
if f.site ~= ARGV[1] then return {0} end
local vk = 'kefu:{s:' .. ARGV[1] .. '}:v:' .. (f.visitor or '')
return {1, h, redis.call('HGETALL', vk),
        redis.call('LRANGE', vk .. ':pages', 0, -1),
        redis.call('LRANGE', k .. ':assignments', 0, -1),
        redis.call('SMEMBERS', k .. ':joined')}
