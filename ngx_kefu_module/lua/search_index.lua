#!lua
-- search_index: KEYS = the hit's document key (or a term key when there
-- is no document: visitors), then the term keys.  ARGV = member, ts
-- (ms), document ("" for none), ttl (s), postings per term, cutoff (ms:
-- older postings go).  Every key written gets the ttl again.
local member, ts, doc = ARGV[1], ARGV[2], ARGV[3]
local ttl, cap, cut = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local first = 1
if doc ~= '' then
  redis.call('SET', KEYS[1], doc, 'EX', ttl)
  first = 2
end
for i = first, #KEYS do
  local k = KEYS[i]
  redis.call('ZADD', k, ts, member)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. cut)
  if redis.call('ZCARD', k) > cap then
    redis.call('ZREMRANGEBYRANK', k, 0, -cap - 1)
  end
  redis.call('EXPIRE', k, ttl)
end
return #KEYS - first + 1
