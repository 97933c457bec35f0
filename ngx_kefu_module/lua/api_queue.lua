-- api_queue: ARGV = site, group, limit.  {length, then per queued
-- conversation conv, enqueued (ms), visitor, created}, oldest first.
local q = 'kefu:{s:' .. ARGV[1] .. '}:q:' .. ARGV[2]
local out = {redis.call('ZCARD', q)}
local r = redis.call('ZRANGE', q, 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
for i = 1, #r, 2 do
  local h = redis.call('HMGET', 'kefu:{c:' .. r[i] .. '}', 'visitor',
                       'created')
  out[#out + 1] = r[i]
  out[#out + 1] = r[i + 1]
  out[#out + 1] = h[1] or ''
  out[#out + 1] = h[2] or ''
end
return out
