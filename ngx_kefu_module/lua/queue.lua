-- queue: ARGV = site, limit per group, groups (JSON array).  The agents'
-- view of the queues (contract v2): the "queue" answer's JSON, per group
-- its queued conversations in order (r_qitem(): conv, group, position,
-- since, offline?, visitor, last) and "more", how many were left out.
-- Read-only.
--@include kefu_event
--@include route
r_init(ARGV[1], '0', '', '0', '0', '-')
local limit = tonumber(ARGV[2])
local out, more = {}, 0
for _, g in ipairs(cjson.decode(ARGV[3])) do
  local q = R.sk .. 'q:' .. g
  local r = redis.call('ZRANGE', q, 0, limit - 1, 'WITHSCORES')
  more = more + math.max(0, redis.call('ZCARD', q) - limit)
  for i = 1, #r, 2 do
    if redis.call('HGET', r_ck(r[i]), 'state') == 'queued' then
      out[#out + 1] = r_qitem(r[i], g, (i - 1) / 2, r[i + 1])
    end
  end
end
if #out == 0 then
  return '{"type":"queue","convs":[],"more":' .. more .. '}'
end
return r_json({type = 'queue', convs = out, more = more})
