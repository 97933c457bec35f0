#!lua
-- msg_batch: the messages one worker's event-loop pass took, stored in
-- one call (group commit, ngx_kefu_msg_batch.c): each message exactly as
-- msg (one Redis: here) or msg_slot (with "kefu_redis cluster": then all
-- of them of one slot) stores it, lib/msg.lua in the order given, so a
-- conversation's messages keep their order and a duplicate cid of an
-- earlier message of the same call is answered as one.  KEYS = each
-- message's conversation hash (kefu:{c:<conv>}, "kefu:{c:}" for a
-- visitor's message that names none); ARGV = "1" for here, then per
-- message the count of its arguments and msg's ARGV
-- (ngx_kefu_msg_argv()).  Returns one reply per message, msg's (or
-- msg_slot's); a message whose step failed gets an error in its place,
-- its batch-mates theirs.
--@include msg
local here = ARGV[1] == '1'
local out, a = {}, 2
local args, legacy = {}, {}
for i = 1, #KEYS do
  local n = tonumber(ARGV[a])
  -- one table of the right size (a loop grew it five times a message)
  local A = {unpack(ARGV, a + 1, a + n)}
  a = a + n + 1
  args[i] = A
  if here then
    legacy[i] = m_legacy(A[1] or '', A[2] or '', A[5] or '')
  end
end
-- the legacy dedup records of all of them in one read (lib/msg.lua)
if here and #legacy > 0 then legacy = redis.call('MGET', unpack(legacy)) end
-- their events' convs scores in one ZADD at the end (lib/kefu_event.lua)
if here then K.convs = {} end
for i = 1, #KEYS do
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
