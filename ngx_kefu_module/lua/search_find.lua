#!lua flags=no-writes
-- search_find: KEYS = nw word-term keys, nv visitor-term keys (the same
-- terms), nf filter keys (none: the whole site).  ARGV = nw, nv, nf,
-- limit, before (ms, "" for none), after-member (with before: the last
-- hit of the previous page; hits of its ms after it come next, "" for
-- none).  Returns {hits: member, ts, ...
-- newest first, visitor ids, more}.  At most 5000 postings of the
-- shortest term's list are looked at per call, and an agent's filter holds its latest 5000 conversations
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
-- The members of all n lists from KEYS[first] on, newest first: the
-- shortest list is walked in pages and each member looked up in the
-- others (a message's postings all have its ts), so a page of hits costs
-- about its own size, not the lists'.  keep(member) filters; at most
-- 5000 members are looked at.  Returns member, ts, ... and 1 if there
-- were more than want.
local function walk(first, n, want, keep)
  local small, size = first, -1
  for i = first, first + n - 1 do
    local c = redis.call('ZCARD', KEYS[i])
    if size < 0 or c < size then small, size = i, c end
  end
  local out, scanned, off, batch = {}, 0, 0, want + 1
  local max = '+inf'
  local cut = ARGV[6] ~= '' and ARGV[6] or nil
  if before then max = cut and ARGV[5] or '(' .. ARGV[5] end
  -- pages that double: one call when the first want + 1 all match
  while scanned < 5000 do
    local r = redis.call('ZREVRANGEBYSCORE', KEYS[small], max, '-inf',
                         'WITHSCORES', 'LIMIT', off, batch)
    for i = 1, #r, 2 do
      scanned = scanned + 1
      local m, ok = r[i], true
      -- the previous page's millisecond: only what sorts after its last
      if cut and r[i + 1] == ARGV[5] and m >= cut then ok = false end
      for k = first, ok and first + n - 1 or first - 1 do
        if k ~= small and not redis.call('ZSCORE', KEYS[k], m) then
          ok = false
          break
        end
      end
      if ok and keep(m) then
        if #out >= want * 2 then return out, 1 end
        out[#out + 1] = m
        out[#out + 1] = r[i + 1]
      end
      if scanned >= 5000 then break end
    end
    if #r < batch * 2 then break end
    off = off + batch
    batch = math.min(batch * 2, 5000 - scanned)
  end
  return out, 0
end
local hits, more = {}, 0
if nw > 0 then
  hits, more = walk(1, nw, limit, function(m)
    return allow == nil or allow[string.match(m, '^(.-):')] ~= nil
  end)
end
local vis = {}
if nv > 0 and not before then
  local r = walk(nw + 1, nv, 20, function() return true end)
  for i = 1, #r, 2 do vis[#vis + 1] = r[i] end
end
return {hits, vis, more}
