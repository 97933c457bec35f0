#!lua
-- lease sync: ARGV = site, now, token, lease time, grace, the worker's
-- live agent connections of the site ("<id>|<session>" separated by
-- spaces).  The lease's records become exactly these: what a dropped or
-- lost call left wrong is healed.  Returns {removed, added}.
--@include kefu_event
--@include route
--@include presence
r_init(ARGV[1], ARGV[2], '', ARGV[5], '0', '-')
local tok, ttl = ARGV[3], tonumber(ARGV[4])
local now = p_now()
local lk = R.sk .. 'l:' .. tok
local want, removed, added = {}, 0, 0
for m in string.gmatch(ARGV[6], '%S+') do want[m] = true end
for _, m in ipairs(redis.call('SMEMBERS', lk)) do
  if not want[m] then
    redis.call('SREM', lk, m)
    local aid, sess = p_split(m)
    if aid then p_del(aid, tok .. '|' .. sess, now) end
    removed = removed + 1
  end
end
for m in pairs(want) do
  local aid, sess = p_split(m)
  if aid then
    if redis.call('SADD', lk, m) == 1 then added = added + 1 end
    p_add(aid, tok .. '|' .. sess)
  end
end
redis.call('ZADD', R.sk .. 'leases', now + ttl, tok)
return {removed, added}
