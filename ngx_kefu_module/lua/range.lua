#!lua flags=no-writes
-- range: KEYS = the conversation's log.  The log of one conversation from seq ARGV[2] up to ARGV[3]
-- ("+" for the end), at most ARGV[4] entries: {seq, private, session, json}
-- flattened.  Catch-up after a gap, a reconnect or a resume.
local r = redis.call('XRANGE', KEYS[1],
                     ARGV[2] .. '-1', ARGV[3], 'COUNT', ARGV[4])
local out = {}
for _, e in ipairs(r) do
  local f = {}
  for k = 1, #e[2], 2 do f[e[2][k]] = e[2][k + 1] end
  out[#out + 1] = tonumber(string.match(e[1], '^(%d+)'))
  out[#out + 1] = f.p or '0'
  out[#out + 1] = f.s or ''
  out[#out + 1] = f.j or '{}'
end
return out
