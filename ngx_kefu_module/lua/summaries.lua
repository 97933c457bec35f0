-- summaries: ARGV = site, who, role.  The participant's latest 50
-- conversations and, for an agent, every open one of its own (its index
-- kefu:{s:<site>}:a:<id>:open, however many), each {conv, state, seq,
-- agent, visitor, group, unread}, flattened.  unread counts entries after its read pointer that others
-- wrote (private notes not counted for visitors), scanning at most 500.
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
                       'group', 'r:' .. who)
  if h[1] then
    local seq = tonumber(h[2]) or 0
    local rd = tonumber(h[6]) or 0
    local unread = 0
    if seq > rd then
      local es = redis.call('XRANGE', k .. ':log', n_str(rd + 1) .. '-1', '+',
                            'COUNT', 500)
      for _, e in ipairs(es) do
        local f, p = nil, '0'
        for i = 1, #e[2], 2 do
          if e[2][i] == 'f' then f = e[2][i + 1] end
          if e[2][i] == 'p' then p = e[2][i + 1] end
        end
        if f ~= who and not (p == '1' and role == 'visitor') then
          unread = unread + 1
        end
      end
    end
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
