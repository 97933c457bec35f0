#!lua
-- read: KEYS = the conversation, its log.  ARGV = conv, who, seq, session,
-- json of the read event (less seq).
-- Moves the participant's read pointer forward (never back, never past the
-- last entry) and tells the conversation.  Returns the pointer.
-- It also keeps what welcome summaries need to count the unread in O(1)
-- (summaries.lua): u:<who> = "<unread after the pointer> <last seq then>
-- <w:<who> then> <pn then>"; unread is counted here, from the log, only
-- when the pointer stops short of the last entry (at most 500 looked at).
--@include num
local k = KEYS[1]
local who = ARGV[2]
local h = redis.call('HMGET', k, 'seq', 'r:' .. who, 'w:' .. who, 'pn')
local last, cur = tonumber(h[1]) or 0, tonumber(h[2]) or 0
local seq = math.min(tonumber(ARGV[3]), last)
if seq <= cur then return cur end
local unread = 0
if seq < last then
  local visitor = string.sub(who, 1, 2) == 'v:'
  local es = redis.call('XRANGE', KEYS[2], n_str(seq + 1) .. '-1', '+',
                        'COUNT', 500)
  for _, e in ipairs(es) do
    local f, p = nil, '0'
    for i = 1, #e[2], 2 do
      if e[2][i] == 'f' then f = e[2][i + 1] end
      if e[2][i] == 'p' then p = e[2][i + 1] end
    end
    if f ~= who and not (p == '1' and visitor) then unread = unread + 1 end
  end
end
redis.call('HSET', k, 'r:' .. who, n_str(seq), 'u:' .. who,
           unread .. ' ' .. n_str(last) .. ' ' .. (h[3] or '0') .. ' ' ..
           (h[4] or '0'))
redis.call('PUBLISH', 'kefu:{c:' .. ARGV[1] .. '}', ARGV[4] .. '|t|0|' ..
           ARGV[5] .. n_str(seq) .. '}')
return seq
