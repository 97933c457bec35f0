#!lua
-- event_put: messages' events onto the site's stream, with "kefu_redis
-- cluster", after msg_slot stored them in their conversations' slots (a
-- conversation's log is the outbox: docs/storage.md, "The message's
-- event, via the log"); one call for the messages of a site that one
-- event-loop pass of a worker stored.  KEYS = the site's marks
-- (kefu:{s:<site>}:ev, field <conv>: the last seq whose event is on the
-- stream), the stream, the convs index, the erased conversations
-- (kefu:{s:<site>}:erased, erase_mark.lua); then, per message in order, the
-- visitor's record to keep alive (when its ttl is given; its index and
-- pages are built on its key), the file's references (when a file is
-- given) and the conversation's routing record (kefu:{s:<site>}:r:<conv>,
-- when a seq is given and the event is not a note: its "last", the
-- queue's preview, lib/preview.lua).  ARGV = site, then 8 per message: conv, prev (the seq of the
-- conversation's message before it: 0 for none), the visitor's ttl (""
-- for none), the file's SHA-256 ("" for none), seq ("" for none: a
-- duplicate's check alone), event name, ts, the entry's JSON; a
-- conversation's messages in seq order.
-- A message's event is put only above its conversation's mark, and the
-- mark moves in the same step: a repeat puts nothing.  A mark below prev
-- means an event was lost between the two calls (its worker died):
-- nothing more of that conversation is put here, and the worker reads the
-- missing entries from the log (ev_range) and calls again with them.  The
-- visitor and the file are kept in every case (both are idempotent), the
-- file only while its references are there (a late call, after an
-- erasure took them, makes none).  A conversation erased meanwhile (no
-- mark, and in the erased set: erase_mark takes the one and puts the
-- other in one step) gets nothing put: no event, no mark, no entry in the
-- site's list, no visitor kept alive, and no heal.  The set is read only
-- for a conversation without a mark (its first event, or erased).
-- Returns, for each conversation whose mark is behind, {conv, mark, the
-- highest seq given for it}, flattened ({} when all is put).
--@include kefu_event
--@include retain
--@include preview
local site = ARGV[1]
K.events = KEYS[2]
-- the convs index (KEYS[3]) written once at the end (lib/kefu_event.lua)
K.convs = {}
local k = 5
local marks, gone, behind, order = {}, {}, {}, {}
for i = 2, #ARGV - 7, 8 do
  local conv, prev = ARGV[i], tonumber(ARGV[i + 1]) or 0
  local vk, fk, rk
  if ARGV[i + 2] ~= '' then
    vk = KEYS[k]
    k = k + 1
  end
  if ARGV[i + 3] ~= '' then
    fk = KEYS[k]
    k = k + 1
  end
  if ARGV[i + 4] ~= '' and ARGV[i + 5] ~= 'note' then
    rk = KEYS[k]
    k = k + 1
  end
  local mark = marks[conv]
  if not mark then
    mark = redis.call('HGET', KEYS[1], conv)
    if not mark and redis.call('ZSCORE', KEYS[4], conv) then
      gone[conv] = true
    end
    mark = tonumber(mark or '0')
  end
  if gone[conv] then
    -- erased: a late call puts nothing of it back
  else
    if vk then k_visitor(vk, ARGV[i + 2]) end
    -- only into a file's references that are there: none means the file
    -- went (its conversation erased meanwhile, the sweep), and a set made
    -- now would be no file's, never swept and never expiring
    if fk and redis.call('EXISTS', fk) == 1 then
      redis.call('SADD', fk, conv)
    end
    local seq = tonumber(ARGV[i + 4])
    if behind[conv] or mark < prev then
      if not behind[conv] then order[#order + 1] = conv end
      behind[conv] = math.max(behind[conv] or 0, seq or prev)
    elseif seq and seq > mark then
      kefu_event(site, ARGV[i + 5], conv, ARGV[i + 4], ARGV[i + 6],
                 ARGV[i + 7])
      redis.call('HSET', KEYS[1], conv, ARGV[i + 4])
      mark = seq
      -- a conversation routed before the upgrade has no record: none made
      if rk and redis.call('EXISTS', rk) == 1 then
        local t = p_text(ARGV[i + 7])
        if t then redis.call('HSET', rk, 'last', t) end
      end
    end
  end
  marks[conv] = mark
end
kefu_convs()
local out = {}
for _, c in ipairs(order) do
  out[#out + 1] = c
  out[#out + 1] = n_str(marks[c])
  out[#out + 1] = n_str(behind[c])
end
return out
