-- Presence as leases (docs/routing.md), after route ("--@include presence").  Every
-- worker holds a lease per site, kefu:{s:<site>}:leases (token -> expiry,
-- Redis's clock); each agent connection is a record "<token>|<session>" in
-- kefu:{s:<site>}:a:<id>:c, listed under its lease in
-- kefu:{s:<site>}:l:<token> as "<id>|<session>".  "conns" is the count of
-- an agent's records; records go with their lease.  When it drops to 0 a
-- grace deadline goes into kefu:{s:<site>}:grace, which any worker's sweep
-- claims once.  Adding or removing a record is idempotent.
local function p_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function p_split(m)
  return string.match(m, '^(.+)|(%x+)$')
end
local function p_count(aid)
  local ak = R.sk .. 'a:' .. aid
  local n = redis.call('SCARD', ak .. ':c')
  redis.call('HSET', ak, 'conns', n)
  return n
end
local function p_add(aid, rec)
  local ak = R.sk .. 'a:' .. aid
  local before = redis.call('SCARD', ak .. ':c')
  if redis.call('SADD', ak .. ':c', rec) == 0 then return end
  p_count(aid)
  redis.call('ZREM', R.sk .. 'grace', aid)
  if before == 0 then r_index(aid) end
end
local function p_del(aid, rec, now)
  local ak = R.sk .. 'a:' .. aid
  if redis.call('SREM', ak .. ':c', rec) == 0 then return end
  if p_count(aid) == 0 then
    redis.call('HSET', ak, 'gone', R.tss)
    redis.call('ZADD', R.sk .. 'grace', now + R.grace, aid)
    r_index(aid)
  end
end
local function p_purge(tok, now)
  local lk = R.sk .. 'l:' .. tok
  for _, m in ipairs(redis.call('SMEMBERS', lk)) do
    local aid, sess = p_split(m)
    if aid then p_del(aid, tok .. '|' .. sess, now) end
  end
  redis.call('DEL', lk)
  redis.call('ZREM', R.sk .. 'leases', tok)
end
