#!lua
-- rule_wait: KEYS = the sweep's lease for a group, the site's marks (a
-- zset), the group's queue (kefu:{s:<site>}:q:<group>), its conversations
-- in state bot (kefu:{s:<site>}:b:<group>, scored by when they entered
-- it).  ARGV = now (ms),
-- the lease (ms), how many of the queue's oldest at most, how long a mark
-- is kept (ms), the lease's holder, the waiting rules ("<crc>:<seconds>"
-- separated by spaces).
-- The "waiting" trigger (docs/automation.md): one worker of all hosts per
-- lease takes the conversations waiting longer than a rule's seconds
-- whose "<conv>:<crc>" is not marked yet, marks them (so each fires once
-- per conversation and rule) and returns them as a flat list {conv, crc,
-- waited seconds}; {} when another worker
-- holds the lease.  At most 200 a run: the rest stays unmarked for the
-- next.
if not redis.call('SET', KEYS[1], ARGV[5], 'NX', 'PX', ARGV[2]) then
  return {}
end
local now, limit, keep = tonumber(ARGV[1]), tonumber(ARGV[3]),
                         tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - keep))
local rules, least = {}, nil
for crc, s in string.gmatch(ARGV[6], '(%x+):(%d+)') do
  rules[#rules + 1] = {crc, tonumber(s) * 1000}
  if not least or tonumber(s) * 1000 < least then
    least = tonumber(s) * 1000
  end
end
local out, n = {}, 0
if not least then return out end
for k = 3, 4 do
  local q = redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', now - least,
                       'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #q, 2 do
    local at = tonumber(q[i + 1])
    for _, r in ipairs(rules) do
      if n < 200 and now - at >= r[2] then
        local m = q[i] .. ':' .. r[1]
        if not redis.call('ZSCORE', KEYS[2], m) then
          redis.call('ZADD', KEYS[2], ARGV[1], m)
          out[#out + 1] = q[i]
          out[#out + 1] = r[1]
          out[#out + 1] = tostring(math.floor((now - at) / 1000))
          n = n + 1
        end
      end
    end
  end
end
if n > 0 then redis.call('PEXPIRE', KEYS[2], keep) end
return out
