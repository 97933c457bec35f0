#!lua
-- erase_visitor: KEYS = the visitor's hash, page trail, conversations,
-- the site's events, the visitor's upload counts of this hour and the two
-- before, then the search index's terms of the visitor (ix:v:<term>);
-- ARGV = the event's ts and data, the stream's cap, "1" if
-- conversations were erased, the visitor's id.  0: a conversation is
-- left (go round again); 2: nothing was stored; 1: erased, and
-- visitor.erased is on the stream.
if redis.call('ZCARD', KEYS[3]) > 0 then return 0 end
local found = ARGV[4] == '1' or
              redis.call('EXISTS', KEYS[1], KEYS[2]) > 0
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[5], KEYS[6], KEYS[7])
for i = 8, #KEYS do redis.call('ZREM', KEYS[i], ARGV[5]) end
if not found then return 2 end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*',
           'event', 'visitor.erased', 'conv', '', 'seq', '',
           'ts', ARGV[1], 'data', ARGV[2])
return 1
