#!lua
-- search_batch: the search index entries of the messages one event-loop
-- pass of a worker stored, of one site (ngx_kefu_search.c).  KEYS = each
-- entry's document key (ix:m:<conv>:<seq>), then the term keys
-- (ix:w:<term>) of all entries, each once.  ARGV = ttl (s), postings per
-- term, cutoff (ms: older postings go), n (entries), then per entry:
-- member, ts (ms), document, m, and the m positions in KEYS of its
-- terms' keys.  Every key written gets the ttl again; a term's postings
-- of the call go in one ZADD, and it is pruned once.  Returns n.
local ttl, cap, cut = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local n = tonumber(ARGV[4])
local postings = {}
local a = 5
for i = 1, n do
  local member, ts, m = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 3])
  redis.call('SET', KEYS[i], ARGV[a + 2], 'EX', ttl)
  for j = a + 4, a + 3 + m do
    local k = tonumber(ARGV[j])
    local p = postings[k]
    if p == nil then
      p = {}
      postings[k] = p
    end
    p[#p + 1] = ts
    p[#p + 1] = member
  end
  a = a + 4 + m
end
for k = n + 1, #KEYS do
  local key = KEYS[k]
  if postings[k] then
    redis.call('ZADD', key, unpack(postings[k]))
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. cut)
  -- a no-op while the term has at most cap postings
  redis.call('ZREMRANGEBYRANK', key, 0, -cap - 1)
  redis.call('EXPIRE', key, ttl)
end
return n
