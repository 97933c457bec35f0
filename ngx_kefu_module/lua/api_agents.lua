#!lua flags=no-writes
-- api_agents: ARGV = site.  The site's agents (at most 1000, by id), each
-- {id, agent hash as field/value list}.
-- the agents' hashes: keys of the declared set's slot
local sk = string.gsub(KEYS[1], 'agents$', '')
local ids = redis.call('SMEMBERS', KEYS[1])
table.sort(ids)
local out = {}
for i, id in ipairs(ids) do
  if i > 1000 then break end
  out[#out + 1] = {id, redis.call('HGETALL', sk .. 'a:' .. id)}
end
return out
