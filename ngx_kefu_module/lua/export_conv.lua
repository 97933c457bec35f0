#!lua flags=no-writes
-- export_conv: KEYS = a conversation's hash, log, assignments, joined;
-- ARGV = site, visitor.  {0} unless it is that visitor's of the site,
-- else {1, hash, {entry json...}, assignments, joined}.
local h = redis.call('HGETALL', KEYS[1])
local f = {}
for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
if f.site ~= ARGV[1] or f.visitor ~= ARGV[2] then return {0} end
local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[2], '-', '+')) do
  for i = 1, #e[2], 2 do
    if e[2][i] == 'j' then out[#out + 1] = e[2][i + 1] end
  end
end
return {1, h, out, redis.call('LRANGE', KEYS[3], 0, -1),
        redis.call('SMEMBERS', KEYS[4])}
