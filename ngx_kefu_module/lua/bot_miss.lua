#!lua
-- bot_miss: KEYS = a conversation's hash.  ARGV = seq (the visitor's
-- message the FAQ bot decided on), "1" it did not understand it, "0" it
-- did.  Keeps "bm" = "<misses in a row> <seq>": the same seq again
-- changes nothing (a decision counts once), a miss adds one, an answer
-- resets to 0.  Returns the misses in a row, after this one.
local cur = redis.call('HGET', KEYS[1], 'bm') or ''
local n, s = string.match(cur, '^(%d+) (%d+)$')
n = tonumber(n) or 0
if s == ARGV[1] then return n end
if not redis.call('HGET', KEYS[1], 'state') then return 0 end
if ARGV[2] == '1' then n = n + 1 else n = 0 end
redis.call('HSET', KEYS[1], 'bm', n .. ' ' .. ARGV[1])
return n
