-- api_list: ARGV = site, state, agent, group (each "" for any), since
-- (ms, "" for any), cursor ("" or "<score>:<conv>"), limit.
-- The site's conversations, most recently changed first, from the index
-- kefu_event() keeps.  Returns {next cursor or "", then per conversation
-- conv, state, seq, agent, visitor, group, created, updated}; at most
-- 2000 index entries are looked at per call, so a sparse filter may give
-- a short page with a cursor to go on from.  The cursor is "" at the end
-- of the index (a full last page may still give one, then an empty page).
local site, state, agent, group = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit = tonumber(ARGV[7])
local key = 'kefu:{s:' .. site .. '}:convs'
local min = '-inf'
if ARGV[5] ~= '' then min = ARGV[5] end
local max, cs, cc = '+inf', nil, nil
if ARGV[6] ~= '' then
  cs, cc = string.match(ARGV[6], '^(%d+):(.+)$')
  max = cs
end
local out, n, off, scanned = {''}, 0, 0, 0
while scanned < 2000 do
  local r = redis.call('ZREVRANGEBYSCORE', key, max, min, 'WITHSCORES',
                       'LIMIT', off, 100)
  if #r == 0 then return out end
  for i = 1, #r, 2 do
    local c, s = r[i], r[i + 1]
    off = off + 1
    if not (cs and s == cs and c >= cc) then
      scanned = scanned + 1
      local h = redis.call('HMGET', 'kefu:{c:' .. c .. '}', 'site',
                           'state', 'seq', 'agent', 'visitor', 'group',
                           'created', 'updated')
      if h[1] == site and (state == '' or h[2] == state)
         and (agent == '' or h[4] == agent)
         and (group == '' or h[6] == group) then
        out[#out + 1] = c
        for k = 2, 8 do out[#out + 1] = h[k] or '' end
        n = n + 1
      end
      if n == limit or scanned == 2000 then
        if i + 2 <= #r or #r == 200 then out[1] = s .. ':' .. c end
        return out
      end
    end
  end
  if #r < 200 then return out end
end
return out
