#!lua flags=no-writes
-- summary: KEYS = the conversation.  ARGV = conv, who, role.  What a
-- welcome says of one of the participant's conversations: {conv, state,
-- seq, agent, visitor, group, unread, labels (JSON, "" for none)}, or {}
-- when it is gone.  unread:
-- the entries after its read pointer that others wrote (private notes not
-- counted for visitors), from counters alone: one HMGET, no log read.
-- msg.lua counts each writer's entries (w:<who>) and private notes (pn);
-- read.lua keeps u:<who> = "<unread after the pointer> <seq then>
-- <w:<who> then> <pn then>".  What came since is seq - <seq then>, less
-- the reader's own entries and, for visitors, private notes.
local c, who, role = ARGV[1], ARGV[2], ARGV[3]
local h = redis.call('HMGET', KEYS[1], 'state', 'seq', 'agent', 'visitor',
                     'group', 'r:' .. who, 'u:' .. who, 'w:' .. who, 'pn',
                     'labels')
if not h[1] then return {} end
local seq = tonumber(h[2]) or 0
local u, at, w0, p0 = 0, tonumber(h[6]) or 0, 0, 0
if h[7] then
  local a, b, x, y = string.match(h[7], '^(%d+) (%d+) (%d+) (%d+)$')
  if a then
    u, at, w0, p0 = tonumber(a), tonumber(b), tonumber(x), tonumber(y)
  end
end
local unread = u + (seq - at) - ((tonumber(h[8]) or 0) - w0)
if role == 'visitor' then
  unread = unread - ((tonumber(h[9]) or 0) - p0)
end
if unread < 0 then unread = 0 end
return {c, h[1], seq, h[3] or '', h[4] or '', h[5] or '', unread,
        h[10] or ''}
