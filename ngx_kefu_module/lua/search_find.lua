-- search_find: KEYS = nw word-term keys, nv visitor-term keys (the same
-- terms), nf filter keys (none: the whole site).  ARGV = nw, nv, nf,
-- limit, before (ms, "" for none).  Returns {hits: member, ts, ...
-- newest first, visitor ids, more}.  At most 5000 postings are looked at
-- per call, and an agent's filter holds its latest 5000 conversations
-- and the first 5000 of each of its groups' queues.
local nw, nv, nf = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local limit, before = tonumber(ARGV[4]), tonumber(ARGV[5])
local allow
if nf > 0 then
  allow = {}
  for i = nw + nv + 1, nw + nv + nf do
    for _, c in ipairs(redis.call('ZREVRANGE', KEYS[i], 0, 4999)) do
      allow[c] = 1
    end
  end
end
local function newest(first, n, count)
  if n == 1 then
    local max = '+inf'
    if before then max = '(' .. ARGV[5] end
    return redis.call('ZREVRANGEBYSCORE', KEYS[first], max, '-inf',
                      'WITHSCORES', 'LIMIT', 0, count)
  end
  local args = {'ZINTER', n}
  for i = first, first + n - 1 do args[#args + 1] = KEYS[i] end
  args[#args + 1] = 'AGGREGATE'
  args[#args + 1] = 'MAX'
  args[#args + 1] = 'WITHSCORES'
  local z = redis.call(unpack(args))
  local r = {}
  for i = #z - 1, 1, -2 do
    if #r >= count * 2 then break end
    if not before or tonumber(z[i + 1]) < before then
      r[#r + 1] = z[i]
      r[#r + 1] = z[i + 1]
    end
  end
  return r
end
local hits, more = {}, 0
if nw > 0 then
  -- the whole site: the newest limit + 1 are the page; an agent's
  -- filter may need to look further
  local r = newest(1, nw, allow and 5000 or limit + 1)
  for i = 1, #r, 2 do
    local conv = string.match(r[i], '^(.-):')
    if allow == nil or allow[conv] then
      if #hits >= limit * 2 then more = 1 break end
      hits[#hits + 1] = r[i]
      hits[#hits + 1] = r[i + 1]
    end
  end
end
local vis = {}
if nv > 0 and not before then
  local r = newest(nw + 1, nv, 20)
  for i = 1, #r, 2 do vis[#vis + 1] = r[i] end
end
return {hits, vis, more}
