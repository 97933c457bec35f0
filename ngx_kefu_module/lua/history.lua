#!lua flags=no-writes
-- history: KEYS = the conversation, its log, its joined set.  ARGV =
-- conv, before (seq, "" for the end), limit, visitor ("1": private notes
-- left out); for a connection that is not a member (a closed
-- conversation read from a later connection), site, who, role, listed
-- ("1": history_check.lua found it in the agent's list, in the site's
-- slot): its visitor reads it, so does an agent whose list still has it
-- (it closed it; one handed over left the list) or who joined it, and the
-- site's admins.  Returns {more, json, json, ...} newest first, or {-1}:
-- not the reader's (or no such conversation).  At most 1000 entries are
-- looked at (a visitor's history skips private notes, which may be many):
-- having looked at that many without filling the page, it returns
-- {2, seq to ask "before" next, json, ...}.
--@include num
if ARGV[5] then
  local site, who, role = ARGV[5], ARGV[6], ARGV[7]
  local h = redis.call('HMGET', KEYS[1], 'site', 'visitor')
  if h[1] ~= site then return {-1} end
  local ok = role == 'admin'
  if role == 'visitor' then ok = h[2] == string.sub(who, 3) end
  if role == 'agent' then
    ok = ARGV[8] == '1' or redis.call('SISMEMBER', KEYS[3], who) == 1
  end
  if not ok then return {-1} end
end
local k = KEYS[2]
local limit = tonumber(ARGV[3])
local top = '+'
if ARGV[2] ~= '' then
  local b = n_dec(ARGV[2])
  if b == '0' then return {0} end
  top = b .. '-1'
end
local out, items, looked = {0}, 0, 0
while true do
  local es = redis.call('XREVRANGE', k, top, '-', 'COUNT', limit + 1)
  if #es == 0 then return out end
  for _, e in ipairs(es) do
    local j, p = nil, '0'
    for i = 1, #e[2], 2 do
      if e[2][i] == 'j' then j = e[2][i + 1] end
      if e[2][i] == 'p' then p = e[2][i + 1] end
    end
    if not (p == '1' and ARGV[4] == '1') then
      if items == limit then out[1] = 1 return out end
      out[#out + 1] = j
      items = items + 1
    end
    looked = looked + 1
    if looked >= 1000 and items < limit then
      -- the rest on the next call, from this entry down
      local s = string.match(e[1], '^(%d+)')
      if s == '1' then return out end
      table.insert(out, 2, s)
      out[1] = 2
      return out
    end
    top = '(' .. e[1]
  end
end
