#!lua
-- search_batch: the search index entries of the messages one event-loop
-- pass of a worker stored, of one site (ngx_kefu_search.c).  KEYS = each
-- entry's document key (ix:m:<conv>:<seq>), then the term keys
-- (ix:w:<term>) of all entries, each once.  ARGV = ttl (s, the
-- documents'), postings per term, cutoff (ms: older postings go), n
-- (entries), the term keys' ttl (s), their due flags (one character per
-- term key, in KEYS' order: "1" pruned and expired here, "2" the same for
-- a key the worker has not seen (mostly a new one), "0" only added to:
-- ngx_kefu_search_due()), then per entry: member, ts (ms), document,
-- m, and the m positions in KEYS of its terms' keys.  A term's postings
-- of the call go in one ZADD.  Returns n.
local ttl, cap, cut = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local n = tonumber(ARGV[4])
local tttl, due = ARGV[5], ARGV[6]
local postings = {}
-- a term's position as a number, each string converted once: a call's
-- frequent terms are given again and again (tonumber() is strtod())
local pos = {}
local a = 7
for i = 1, n do
  local member, ts, m = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 3])
  redis.call('SET', KEYS[i], ARGV[a + 2], 'EX', ttl)
  for j = a + 4, a + 3 + m do
    local k = pos[ARGV[j]]
    if k == nil then
      k = tonumber(ARGV[j])
      pos[ARGV[j]] = k
    end
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
-- A key that is not due was expired when it was last pruned, as every
-- term key is when made; one that is gone meanwhile (erased, or expired)
-- would be made again by the ZADD without an expiry: so unless all the
-- keys not due are there, before the ZADDs (one EXISTS for them all),
-- every term of the call is pruned and expired.
local rest = {}
for k = n + 1, #KEYS do
  if string.sub(due, k - n, k - n) == '0' then rest[#rest + 1] = KEYS[k] end
end
local all = #rest > 0 and redis.call('EXISTS', unpack(rest)) ~= #rest
-- A key that is due is expired first: EXPIRE answers 0 for a key that is
-- not there, which is then new, made by the ZADD with these postings
-- alone, and only needs its expiry, not the prunes (issue 18: most terms
-- a worker has not seen are new keys, a number in a message, say).  One
-- the worker has not seen ("2") is expired after its ZADD instead, by
-- EXPIRE NX (Redis 7: only a key without an expiry, which is one the ZADD
-- made, since every term key has one): two commands for a new key, not
-- three, and a key that was there is then expired and pruned as above.
-- Redis 5 and 6 (EVALSHA) know no NX: there "2" is "1".
local nx = (redis.REDIS_VERSION_NUM or 0) >= 0x070000
for k = n + 1, #KEYS do
  local key = KEYS[k]
  local d = string.sub(due, k - n, k - n)
  local prune = all or d ~= '0'
  local first = prune and nx and d == '2'
  local new = false
  if prune and not first then
    new = redis.call('EXPIRE', key, tttl) == 0
  end
  if postings[k] then
    redis.call('ZADD', key, unpack(postings[k]))
  end
  if first then
    new = redis.call('EXPIRE', key, tttl, 'NX') == 1
    if not new then redis.call('EXPIRE', key, tttl) end
  elseif new then
    redis.call('EXPIRE', key, tttl)
  end
  if prune and not new then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. cut)
    -- a no-op while the term has at most cap postings
    redis.call('ZREMRANGEBYRANK', key, 0, -cap - 1)
  end
end
return n
