#!lua flags=no-writes
-- api_list: KEYS = the site's conversations by their last event (the
-- index kefu_event() keeps).  ARGV = since (ms, "" for any), cursor (""
-- or "<score>:<conv>"), count.  The next count entries, most recently
-- changed first, after the cursor: {score, conv, score, conv, ...}; each
-- one's row is read next in its own slot (conv_fields.lua) and filtered
-- there.  Entries of the cursor's score at or after its conversation were
-- given before (same score: reverse order of the member).
local min = '-inf'
if ARGV[1] ~= '' then min = ARGV[1] end
local max, cs, cc = '+inf', nil, nil
if ARGV[2] ~= '' then
  cs, cc = string.match(ARGV[2], '^(%d+):(.+)$')
  max = cs
end
local count = tonumber(ARGV[3])
local out, off = {}, 0
while #out < 2 * count do
  local r = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, min, 'WITHSCORES',
                       'LIMIT', off, 100)
  for i = 1, #r, 2 do
    local c, s = r[i], r[i + 1]
    off = off + 1
    if not (cs and s == cs and c >= cc) and #out < 2 * count then
      out[#out + 1] = s
      out[#out + 1] = c
    end
  end
  if #r < 200 then break end
end
return out
