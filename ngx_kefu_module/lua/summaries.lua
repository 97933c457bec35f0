-- summaries: ARGV = site, who, role.  The participant's latest 50
-- conversations and, for an agent, every open one of its own (its index
-- kefu:{s:<site>}:a:<id>:open, however many), each {conv, state, seq,
-- agent, visitor, group, unread}, flattened.  unread: the entries after
-- its read pointer that others wrote (private notes not counted for
-- visitors), from counters alone: one HMGET per conversation, no log
-- read.  msg.lua counts each writer's entries (w:<who>) and private notes
-- (pn); read.lua keeps u:<who> = "<unread after the pointer> <seq then>
-- <w:<who> then> <pn then>".  What came since is seq - <seq then>, less
-- the reader's own entries and, for visitors, private notes.
--@include num
local site, who, role = ARGV[1], ARGV[2], ARGV[3]
local pk = 'kefu:{s:' .. site .. '}:' .. who
local ids = redis.call('ZREVRANGE', pk .. ':convs', 0, 49)
if role == 'agent' then
  local seen = {}
  for _, c in ipairs(ids) do seen[c] = true end
  for _, c in ipairs(redis.call('SMEMBERS', pk .. ':open')) do
    if not seen[c] then ids[#ids + 1] = c end
  end
end
local out = {}
for _, c in ipairs(ids) do
  local k = 'kefu:{c:' .. c .. '}'
  local h = redis.call('HMGET', k, 'state', 'seq', 'agent', 'visitor',
                       'group', 'r:' .. who, 'u:' .. who, 'w:' .. who, 'pn')
  if h[1] then
    local seq = tonumber(h[2]) or 0
    local u, at, w0, p0 = 0, tonumber(h[6]) or 0, 0, 0
    if h[7] then
      local a, b, x, y = string.match(h[7], '^(%d+) (%d+) (%d+) (%d+)$')
      if a then
        u, at, w0, p0 = tonumber(a), tonumber(b), tonumber(x), tonumber(y)
      end
    end
    local unread = u + (seq - at) - ((tonumber(h[8]) or 0) - w0)
    if role == 'visitor' then
      unread = unread - ((tonumber(h[9]) or 0) - p0)
    end
    if unread < 0 then unread = 0 end
    out[#out + 1] = c
    out[#out + 1] = h[1]
    out[#out + 1] = seq
    out[#out + 1] = h[3] or ''
    out[#out + 1] = h[4] or ''
    out[#out + 1] = h[5] or ''
    out[#out + 1] = unread
  end
end
return out
