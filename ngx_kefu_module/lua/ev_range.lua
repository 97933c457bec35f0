#!lua flags=no-writes
-- ev_range: the messages of a conversation whose events may be missing
-- from the site's stream (event_put said its mark is behind).  KEYS = the
-- conversation's log; ARGV = the mark (exclusive), the seq to read up to
-- (inclusive), at most how many log entries (the latest).  Only what
-- msg wrote (not routing's or open's system entries, whose events their
-- own steps put).  Returns {seq, event name, ts, JSON} flattened, in seq
-- order.
--@include num
local es = redis.call('XREVRANGE', KEYS[1], ARGV[2] .. '-1',
                      '(' .. ARGV[1] .. '-1', 'COUNT', ARGV[3])
local out = {}
for i = #es, 1, -1 do
  local f = {}
  for k = 1, #es[i][2], 2 do f[es[i][2][k]] = es[i][2][k + 1] end
  if f.f and f.f ~= 'system' and f.j then
    local ok, m = pcall(cjson.decode, f.j)
    local ts = ok and type(m) == 'table' and tonumber(m.ts) or 0
    out[#out + 1] = string.match(es[i][1], '^(%d+)')
    out[#out + 1] = f.e or (f.p == '1' and 'note' or 'msg')
    out[#out + 1] = n_str(ts)
    out[#out + 1] = f.j
  end
end
return out
