-- visitor: its conversation (or its open one) and its quota; others: in */
local site, role, id, conv = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if role == 'visitor' then
  if conv == '' then
    conv = redis.call('HGET', 'kefu:{s:' .. site .. '}:v:' .. id, 'open')
           or ''
  else
    local v = redis.call('HMGET', 'kefu:{c:' .. conv .. '}', 'visitor',
                         'site')
    if v[1] ~= id or v[2] ~= site then return {-1} end
  end
  local q = tonumber(ARGV[5])
  if q > 0 then
    local n = tonumber(redis.call('GET', 'kefu:{s:' .. site .. '}:v:' ..
                                  id .. ':uploads:' .. ARGV[6]) or '0')
    if n >= q then return {-2, conv} end
  end
  return {0, conv}
end
if conv == '' then return {-3} end
local v = redis.call('HMGET', 'kefu:{c:' .. conv .. '}', 'site', 'agent')
if v[1] ~= site then return {-1} end
if role == 'agent' and v[2] ~= id and redis.call('SISMEMBER',
   'kefu:{c:' .. conv .. '}:joined', 'a:' .. id) == 0 then
  return {-1}
end
return {0, conv}
