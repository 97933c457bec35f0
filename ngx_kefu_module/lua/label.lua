#!lua
-- label: KEYS = the conversation.  ARGV = site, conv, label, at most how
-- many.  A rule's label (docs/automation.md): added to the conversation's
-- "labels" (a JSON array in its hash) and told to its agents and admins
-- (a "conv" notice with the labels on its channel, flag a: not its
-- visitor).  {0 added | 1 had it already | -4 at most reached, labels},
-- or {-2, ""} when it is no conversation of the site.
local h = redis.call('HMGET', KEYS[1], 'site', 'labels', 'state', 'group',
                     'agent')
if h[1] ~= ARGV[1] then return {-2, ''} end
local l = {}
if h[2] then l = cjson.decode(h[2]) end
for _, x in ipairs(l) do
  if x == ARGV[3] then return {1, h[2]} end
end
if #l >= tonumber(ARGV[4]) then return {-4, h[2] or '[]'} end
l[#l + 1] = ARGV[3]
local j = cjson.encode(l)
redis.call('HSET', KEYS[1], 'labels', j)
local n = '{"type":"conv","conv":' .. cjson.encode(ARGV[2]) ..
          ',"state":' .. cjson.encode(h[3] or '') ..
          ',"group":' .. cjson.encode(h[4] or '')
if h[5] then n = n .. ',"agent":{"id":' .. cjson.encode(h[5]) .. '}' end
n = n .. ',"reason":"labels","labels":' .. j .. '}'
redis.call('PUBLISH', KEYS[1], '-|a|0|' .. n)
return {0, j}
