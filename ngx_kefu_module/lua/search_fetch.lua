#!lua flags=no-writes
-- search_fetch: KEYS = nh hit documents, nv visitor hashes, nv visitors'
-- conversation lists, nf filter keys.  ARGV = nh, nv, nf.  Returns
-- {documents ("" for one expired meanwhile), per visitor {name, contact,
-- seen, its latest 10 conversations the caller may read}}; a visitor with
-- none of those is left out for an agent.
local nh, nv, nf = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local docs = {}
for i = 1, nh do docs[i] = redis.call('GET', KEYS[i]) or '' end
local allow
if nf > 0 then
  allow = {}
  for i = nh + 2 * nv + 1, nh + 2 * nv + nf do
    for _, c in ipairs(redis.call('ZREVRANGE', KEYS[i], 0, 4999)) do
      allow[c] = 1
    end
  end
end
local vs = {}
for j = 1, nv do
  local h = redis.call('HMGET', KEYS[nh + j], 'name', 'contact', 'seen')
  local mine = {}
  for _, c in ipairs(redis.call('ZREVRANGE', KEYS[nh + nv + j], 0, 199)) do
    if #mine < 10 and (allow == nil or allow[c]) then
      mine[#mine + 1] = c
    end
  end
  if allow == nil or #mine > 0 then
    vs[#vs + 1] = {j, h[1] or '', h[2] or '', h[3] or '', mine}
  end
end
return {docs, vs}
