#!lua
-- erase_conv: KEYS = a conversation's hash, log, assignments, joined
-- (export_conv's, one builder: ngx_kefu_conv_keys_args());
-- ARGV = site, visitor.  {3}: gone already; {0}: not that visitor's;
-- {2, state}: still queued or open (close it first); else the keys are
-- deleted and {1, agent or "", joined, attachments' SHA-256s,
-- "<who>:<cid>" of its messages (their dedup records), its last seq
-- (its search hits)} tells what referred to it.
local h = redis.call('HMGET', KEYS[1], 'site', 'visitor', 'state',
                     'agent', 'seq')
if not h[1] then return {3} end
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then return {0} end
if h[3] ~= 'closed' then return {2, h[3] or ''} end
local shas, cids, seen = {}, {}, {}
for _, e in ipairs(redis.call('XRANGE', KEYS[2], '-', '+')) do
  local f = {}
  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
  local ok, m = pcall(cjson.decode, f.j or '')
  if ok and type(m) == 'table' then
    if f.f and f.f ~= 'system' and type(m.cid) == 'string' then
      cids[#cids + 1] = f.f .. ':' .. m.cid
    end
    local a = m.attachment
    if type(a) == 'table' and type(a.id) == 'string' then
      local sha = string.match(a.id, '^(%x+)%.')
      if sha and #sha == 64 and not seen[sha] then
        seen[sha] = 1
        shas[#shas + 1] = sha
      end
    end
  end
end
local joined = redis.call('SMEMBERS', KEYS[4])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return {1, h[4] or '', joined, shas, cids, h[5] or '0'}
