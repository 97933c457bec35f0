-- Retention (docs/storage.md, "Bounds and retention").  A closed
-- conversation's keys expire together, the site's retention after it
-- closed (k_expire); a key written into a closed conversation later (a
-- supervisor joining it) expires with it (k_follow).  A participant's
-- index of conversations drops, each time it is added to, the oldest
-- entries whose conversation has expired, and never holds more than
-- 10000 (k_trim; routing's own, r_trim() in lib/route.lua, looks for the
-- expired ones at a sample of the adds).  A visitor's record, index and page trail are kept its
-- "ttl" (seconds, set by its hello) past its last activity (k_visitor;
-- a visitor's messages call it once a minute at most: ngx_kefu_msg.c).
local function k_keys(conv)
  local k = 'kefu:{c:' .. conv .. '}'
  return {k, k .. ':log', k .. ':joined', k .. ':assignments'}
end
local function k_expire(conv, secs)
  for _, x in ipairs(k_keys(conv)) do redis.call('EXPIRE', x, secs) end
end
local function k_follow(conv)
  local t = redis.call('PTTL', 'kefu:{c:' .. conv .. '}')
  if t > 0 then
    for _, x in ipairs(k_keys(conv)) do redis.call('PEXPIRE', x, t) end
  end
end
local function k_trim(z)
  for _, c in ipairs(redis.call('ZRANGE', z, '0', '1')) do
    if redis.call('EXISTS', 'kefu:{c:' .. c .. '}') == 0 then
      redis.call('ZREM', z, c)
    end
  end
  local n = redis.call('ZCARD', z)
  if n > 10000 then redis.call('ZREMRANGEBYRANK', z, 0, n - 10001) end
end
-- the visitor's record k_visitor() last renewed in this call, false:
-- none (first.lua: its index's expiry then needs no setting of its own)
local KV = false
local function k_visitor(vk, secs)
  local t = redis.call('HGET', vk, 'ttl')
  if not t then
    redis.call('HSET', vk, 'ttl', secs)
    t = secs
  end
  -- each in turn, not a loop over a list made for it (issue 18)
  redis.call('EXPIRE', vk, t)
  redis.call('EXPIRE', vk .. ':convs', t)
  redis.call('EXPIRE', vk .. ':pages', t)
  KV = vk
end
