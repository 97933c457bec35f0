-- A log entry's preview in the agents' queue: its text, else its file's
-- name in brackets, else an event's name; at most 80 characters, cut
-- after whole UTF-8 sequences.  p_text(j) takes the entry's JSON and
-- returns nil when it is not a table.  Used by lib/route.lua (one Redis:
-- read from the log) and event_put.lua (a cluster: kept on the routing
-- record as each message's event is put).  "--@include preview".
local function p_text(j)
  local ok, m = pcall(cjson.decode, j)
  if not ok or type(m) ~= 'table' then return nil end
  local t = type(m.text) == 'string' and m.text or ''
  if t == '' and type(m.attachment) == 'table' then
    t = '[' .. tostring(m.attachment.name or 'file') .. ']'
  end
  if t == '' and type(m.name) == 'string' then t = m.name end
  local n, i = 0, 1
  while i <= #t do
    local b = string.byte(t, i)
    n = n + 1
    if n > 80 then t = string.sub(t, 1, i - 1) .. '...' break end
    i = i + (b >= 240 and 4 or b >= 224 and 3 or b >= 192 and 2 or 1)
  end
  -- never taken for a visitor's place holder (r_json)
  if string.sub(t, 1, 3) == '@v:' then t = ' ' .. t end
  return t
end
