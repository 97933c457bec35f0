#!lua
-- node claim: KEYS = kefu:{nodes} (node -> lease expiry, Redis's clock),
-- kefu:{nodes}:owner (node -> token), kefu:{nodes}:floor (node -> the
-- latest floor any holder gave), kefu:{nodes}:cursor.  ARGV = token (the
-- worker's, random), lease time (ms), the node it holds or "" for none,
-- its floor (the latest id millisecond it may mint under the lease, by its
-- own clock).  The node held is renewed if still this worker's; otherwise
-- a free one is taken, looking from a cursor that goes round.  Returns
-- {node, floor of the previous holders}, {-1, "0"} when all 1024 are held.
local tok, ttl, want, fl = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local z, o, f = KEYS[1], KEYS[2], KEYS[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, n in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', now)) do
  redis.call('ZREM', z, n)
  redis.call('HDEL', o, n)
end
local function floor(n)
  local old = redis.call('HGET', f, n) or '0'
  if tonumber(fl) > tonumber(old) then redis.call('HSET', f, n, fl) end
  return old
end
if want ~= '' and redis.call('HGET', o, want) == tok then
  redis.call('ZADD', z, now + ttl, want)
  floor(want)
  return {tonumber(want), '0'}
end
local n
if want ~= '' and not redis.call('ZSCORE', z, want) then n = want end
if not n and redis.call('ZCARD', z) < 1024 then
  local c = redis.call('INCR', KEYS[4])
  for i = 0, 1023 do
    local k = tostring((c + i) % 1024)
    if not redis.call('ZSCORE', z, k) then n = k break end
  end
end
if not n then return {-1, '0'} end
redis.call('ZADD', z, now + ttl, n)
redis.call('HSET', o, n, tok)
return {tonumber(n), floor(n)}
