#!lua flags=no-writes
-- avail: KEYS = the site's agents (set).  ARGV = site, now (ms), grace (ms).  The groups that have an agent
-- online (connected, or within its grace period): what "online" means in a
-- visitor's availability.
-- the agents' hashes: keys of the declared set's slot
local sk = string.gsub(KEYS[1], 'agents$', '')
local now, grace = tonumber(ARGV[2]), tonumber(ARGV[3])
local out, seen = {}, {}
for _, aid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local h = redis.call('HMGET', sk .. 'a:' .. aid, 'state', 'conns',
                       'gone', 'groups')
  if h[1] == 'online' and h[4] and ((tonumber(h[2]) or 0) > 0
     or now - (tonumber(h[3]) or 0) < grace) then
    for _, g in ipairs(cjson.decode(h[4])) do
      if not seen[g] then seen[g] = 1 out[#out + 1] = g end
    end
  end
end
return out
