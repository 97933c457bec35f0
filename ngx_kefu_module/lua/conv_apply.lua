#!lua
-- conv_apply: KEYS = a conversation's hash, log, joined, assignments.
-- ARGV = conv, the payload a routing step left for it (JSON, lib/route.lua
-- r_commit(): its record's "ap"), log max length.  The conversation's
-- side of routing in two steps (docs/storage.md, "Routing in two steps"):
-- what is above the hash's version is written (fields, system entries with
-- their seqs, published on the conversation's channel, the assignments of
-- their conv.* events), the rest was already.  Returns {JSON {entry id:
-- [seq, JSON]} of every entry of the payload, the hash's version now
-- ("-1": the conversation is gone, nothing of it is written)}.
--@include apply
local p = cjson.decode(ARGV[2])
local pubs = {}
local got = a_apply(ARGV[1], p, ARGV[3], pubs, true)
for _, x in ipairs(pubs) do redis.call('PUBLISH', x[1], x[2]) end
-- "-1": the conversation is gone (erased, expired), nothing is pending
local v = redis.call('HGET', KEYS[1], 'v')
  or (redis.call('EXISTS', KEYS[1]) == 0 and '-1' or '0')
if next(got) == nil then return {'{}', v} end
return {cjson.encode(got), v}
