#!lua
-- search_index: a visitor's terms (its id, name and contact details;
-- messages go by search_batch).  KEYS = the term keys (ix:v:<term>).
-- ARGV = member (the visitor's id), ts (ms), ttl (s), postings per term,
-- cutoff (ms: older postings go).  Every key written gets the ttl again.
local member, ts = ARGV[1], ARGV[2]
local ttl, cap, cut = ARGV[3], tonumber(ARGV[4]), ARGV[5]
for i = 1, #KEYS do
  local k = KEYS[i]
  redis.call('ZADD', k, ts, member)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. cut)
  if redis.call('ZCARD', k) > cap then
    redis.call('ZREMRANGEBYRANK', k, 0, -cap - 1)
  end
  redis.call('EXPIRE', k, ttl)
end
return #KEYS
