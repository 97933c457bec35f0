#!lua
-- msg_batch: the messages one worker's event-loop pass took, stored in
-- one call (group commit, ngx_kefu_msg_batch.c): each message exactly as
-- msg (one Redis: here) or msg_slot (with "kefu_redis cluster": then all
-- of them of one slot) stores it, lib/msg.lua in the order given, so a
-- conversation's messages keep their order and a duplicate cid of an
-- earlier message of the same call is answered as one.  KEYS: with a
-- cluster each message's conversation hash (kefu:{c:<conv>}, by which the
-- call is routed), none on one Redis (nothing reads them).  ARGV: "1" for
-- here, then what the call's messages share (msg's ARGV 1, 9, 14, 15:
-- site, JSON head, dedup ttl, log max length), then per message the
-- count of its arguments and either its short form (count 11 to 15,
-- m_short() in lib/msg.lua) or msg's whole ARGV (count 16 or more: a
-- message that shares not those; ngx_kefu_msg_argv()).  The short form
-- is what msg reads, each argument a Lua string made per message (issue
-- 18: the 32 of msg's ARGV a message, most of them the same for every
-- message or empty, were a tenth of its instructions).  Returns one reply per
-- message, msg's (or msg_slot's); a message whose step failed gets an
-- error in its place, its batch-mates theirs.
--@include msg
local here = ARGV[1] == '1'
local out, a, na = {}, 6, #ARGV
local args, legacy = {}, {}
while a <= na do
  local n = tonumber(ARGV[a])
  local A
  if n > 15 then
    -- one table of the right size (a loop grew it five times a message)
    A = {unpack(ARGV, a + 1, a + n)}
  else
    A = m_short(ARGV, 2, a, n)
  end
  a = a + n + 1
  args[#args + 1] = A
  if here then
    legacy[#legacy + 1] = m_legacy(A[1] or '', A[2] or '', A[5] or '')
  end
end
-- the legacy dedup records of all of them in one read (lib/msg.lua)
if here and #legacy > 0 then legacy = redis.call('MGET', unpack(legacy)) end
-- their events' convs scores in one ZADD at the end (lib/kefu_event.lua)
if here then K.convs = {} end
for i = 1, #args do
  -- false (no record) is passed on as such: nil would read it again
  local lg = nil
  if here then lg = legacy[i] end
  local ok, r = pcall(m_run, here, args[i], lg)
  if ok then
    out[i] = r
  else
    out[i] = {err = type(r) == 'table' and r.err or tostring(r)}
  end
end
-- (the messages are stored: a failure here leaves the index behind, as
-- one of their own step would have, not their replies)
pcall(kefu_convs)
return out
