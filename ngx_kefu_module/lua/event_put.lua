#!lua
-- event_put: a message's event onto the site's stream, with "kefu_redis
-- cluster", after msg_slot stored it in its conversation's slot (the
-- conversation's log is the outbox: docs/storage.md, "The message's
-- event, via the log").  KEYS = the site's marks (kefu:{s:<site>}:ev,
-- field <conv>: the last seq whose event is on the stream), the stream,
-- the convs index; then, with a visitor to keep alive (ARGV 4), its
-- record, index and pages; then, with a file (ARGV 5), its references.
-- ARGV = site, conv, prev (the seq of the conversation's message before
-- the first entry given: 0 for none), the visitor's ttl ("" for none),
-- the file's SHA-256 ("" for none), then per entry: seq, event name, ts,
-- the entry's JSON, in seq order.
-- Only entries above the mark are put, and the mark moves in the same
-- step: a repeat puts nothing.  A mark below prev means a message's
-- event was lost between the two calls (its worker died): nothing is put
-- and the reply says so, and the worker reads the missing entries from
-- the log (ev_range) and calls again with them.  The visitor and the file
-- are kept in every case (both are idempotent).
-- Returns {code, mark}: 0 put, 1 nothing above the mark (a repeat), 2
-- the mark is behind prev (heal first); mark as it is now.
--@include kefu_event
--@include retain
local site, conv = ARGV[1], ARGV[2]
local n = 3
if ARGV[4] ~= '' then
  k_visitor(KEYS[4], ARGV[4])
  n = 6
end
if ARGV[5] ~= '' then redis.call('SADD', KEYS[n + 1], conv) end
local mark = tonumber(redis.call('HGET', KEYS[1], conv) or '0')
if mark < tonumber(ARGV[3]) then return {2, mark} end
K.events = KEYS[2]
local put = 0
for i = 6, #ARGV - 3, 4 do
  local s = tonumber(ARGV[i])
  if s and s > mark then
    kefu_event(site, ARGV[i + 1], conv, ARGV[i], ARGV[i + 2], ARGV[i + 3])
    mark = s
    put = put + 1
  end
end
if put == 0 then return {1, mark} end
redis.call('HSET', KEYS[1], conv, n_str(mark))
return {0, mark}
