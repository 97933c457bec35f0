-- read: ARGV = conv, who, seq, session, json of the read event (less seq).
-- Moves the participant's read pointer forward (never back, never past the
-- last entry) and tells the conversation.  Returns the pointer.
--@include num
local k = 'kefu:{c:' .. ARGV[1] .. '}'
local h = redis.call('HMGET', k, 'seq', 'r:' .. ARGV[2])
local last, cur = tonumber(h[1]) or 0, tonumber(h[2]) or 0
local seq = math.min(tonumber(ARGV[3]), last)
if seq <= cur then return cur end
redis.call('HSET', k, 'r:' .. ARGV[2], seq)
redis.call('PUBLISH', 'kefu:c:' .. ARGV[1], ARGV[4] .. '|t|0|' ..
           ARGV[5] .. n_str(seq) .. '}')
return seq
