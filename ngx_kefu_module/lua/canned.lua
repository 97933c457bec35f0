#!lua
-- canned: KEYS[1] = the owner's hash.  ARGV = op (get, put, del), key,
-- document, the most an owner may have.  get: the documents by key; put: 1
-- created, 0 replaced, -1 full; del: 1 deleted, 0 there was none.
local op, k = ARGV[1], ARGV[2]
if op == 'get' then
  local h, ks, m, out = redis.call('HGETALL', KEYS[1]), {}, {}, {}
  for i = 1, #h, 2 do ks[#ks + 1] = h[i] m[h[i]] = h[i + 1] end
  table.sort(ks)
  for _, k in ipairs(ks) do out[#out + 1] = m[k] end
  return out
end
if op == 'del' then return redis.call('HDEL', KEYS[1], k) end
local had = redis.call('HEXISTS', KEYS[1], k)
if had == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return -1
end
redis.call('HSET', KEYS[1], k, ARGV[3])
return 1 - had
