-- ARGV = site, now (ms), batch, next look (ms from now), lease (ms) */
local site, now = ARGV[1], tonumber(ARGV[2])
local base = 'kefu:{s:' .. site .. '}:files'
if not redis.call('SET', base .. ':sweep', '1', 'NX', 'PX', ARGV[5]) then
  return {}
end
local out = {}
local due = redis.call('ZRANGEBYSCORE', base, '-inf', now, 'LIMIT', 0,
                       tonumber(ARGV[3]))
for _, sha in ipairs(due) do
  local fk = 'kefu:{s:' .. site .. '}:file:' .. sha
  local alive = 0
  for _, o in ipairs(redis.call('SMEMBERS', fk)) do
    local p = string.match(o, '^p:(%d+)$')
    if (p and tonumber(p) > now) or (not p and
        redis.call('EXISTS', 'kefu:{c:' .. o .. '}') == 1) then
      alive = alive + 1
    else
      redis.call('SREM', fk, o)
    end
  end
  if alive == 0 then
    redis.call('DEL', fk)
    redis.call('ZREM', base, sha)
    out[#out + 1] = sha
  else
    redis.call('ZADD', base, now + tonumber(ARGV[4]), sha)
  end
end
return out
