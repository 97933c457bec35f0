-- api_agents: ARGV = site.  The site's agents (at most 1000, by id), each
-- {id, agent hash as field/value list}.
local ids = redis.call('SMEMBERS', 'kefu:{s:' .. ARGV[1] .. '}:agents')
table.sort(ids)
local out = {}
for i, id in ipairs(ids) do
  if i > 1000 then break end
  out[#out + 1] = {id, redis.call('HGETALL', 'kefu:{s:' .. ARGV[1] ..
                                  '}:a:' .. id)}
end
return out
