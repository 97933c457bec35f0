#!lua
-- route_put: KEYS = a conversation's routing record
-- (kefu:{s:<site>}:r:<conv>), the site's pending set
-- (kefu:{s:<site>}:apply), its event stream.  ARGV = site, conv,
-- conv_apply's reply (JSON {entry id: [seq, JSON]}, the hash's version).
-- The last step of routing in two steps (docs/storage.md): the events of
-- the pending items, in order, up to the first entry conv_apply did not
-- write yet, go to the stream (the entries' with their seq and JSON as in
-- the log; one whose seq is lost, or of a conversation gone, is dropped);
-- they leave the record's "ap", and when nothing is left and the hash has
-- the record's version (or the conversation is gone: version "-1"), the
-- conversation leaves the pending set.  A
-- repeat finds them gone: each event is put once.  The notices the
-- routing step held for the conversation (its "n") are published here.
-- Returns the items left.
--@include kefu_event
K.events, K.noasg = KEYS[3], true
local site, conv = ARGV[1], ARGV[2]
local s = redis.call('HGET', KEYS[1], 'ap')
-- the conversation is gone (erased, expired): nothing of it is put
if not s or ARGV[4] == '-1' then
  redis.call('HDEL', KEYS[1], 'ap')
  redis.call('ZREM', KEYS[2], conv)
  return 0
end
local p = cjson.decode(s)
local got = cjson.decode(ARGV[3])
local left = {}
for _, it in ipairs(p.i or {}) do
  local g = it.k == 'e' and got[it.t and it.t.id or it.id]
  if #left == 0 and (it.k ~= 'e' or g) then
    -- an entry whose seq is lost (g = {}) is dropped, not put; one that
    -- carries no event (open's greeting) puts none
    if it.ev and (not g or g[1]) then
      kefu_event(site, it.ev, conv, g and g[1] or '', it.ts,
                 g and g[2] or it.d)
    end
  else
    left[#left + 1] = it
  end
end
-- the step's notices about the conversation (lib/route.lua r_notice()),
-- now that its side is written
for _, x in ipairs(p.n or {}) do redis.call('PUBLISH', x[1], x[2]) end
p.n = {}
-- the hash is there now (a version): a replay must not make it again
if tonumber(ARGV[4]) > 0 then p.c = nil end
if #left == 0 and tonumber(ARGV[4]) >= tonumber(p.v) then
  redis.call('HDEL', KEYS[1], 'ap')
  redis.call('ZREM', KEYS[2], conv)
  return 0
end
p.i = left
redis.call('HSET', KEYS[1], 'ap', cjson.encode(p))
return #left
