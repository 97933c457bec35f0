#!lua flags=no-writes
-- The site's figures: KEYS = its counts hash and groups set, ARGV = site,
-- default group.  Returns {queued, open, closed, bot, group, length, ...},
-- the default group first, at most 1000 groups.
-- the groups' queues: keys of the declared hash's slot
local sk = string.gsub(KEYS[1], 'counts$', '')
local c = redis.call('HMGET', KEYS[1], 'queued', 'open', 'closed', 'bot')
local out = {tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0,
             tonumber(c[4]) or 0}
local groups = redis.call('SMEMBERS', KEYS[2])
table.insert(groups, 1, ARGV[2])
local seen = {}
for _, g in ipairs(groups) do
  if #out >= 2004 then break end
  if not seen[g] then
    seen[g] = true
    out[#out + 1] = g
    out[#out + 1] =
      redis.call('ZCARD', sk .. 'q:' .. g)
  end
end
return out
