-- A conversation's assignments, kefu:{c:<conv>}:assignments: its state
-- changes (its conv.* events, the latest 100) as {"event","seq","ts",
-- "data"}, which the HTTP API reads (docs/api.md).  Appended by
-- kefu_event() (lib/kefu_event.lua) and, for the conversation's side of a
-- routing step, by a_apply() (lib/apply.lua): one writer, so the two
-- cannot drift apart.  A script uses it with "--@include asg".
-- seq: decimal digits, or anything else for null (an event without an
-- entry); ts: decimal digits; data: JSON, '' or nil for null
-- AN: the events the scripts put, by name: a conv.* event's name as JSON
-- (what cjson.encode() gives), false for the others; read instead of
-- string.sub() and cjson.encode() at each event (issue 18: a new
-- conversation's three events did each twice)
--@const
local AN = {['conv.created'] = '"conv.created"',
            ['conv.queued'] = '"conv.queued"',
            ['conv.assigned'] = '"conv.assigned"',
            ['conv.transferred'] = '"conv.transferred"',
            ['conv.handoff'] = '"conv.handoff"',
            ['conv.joined'] = '"conv.joined"',
            ['conv.rated'] = '"conv.rated"',
            ['conv.closed'] = '"conv.closed"', msg = false, note = false}
local function kefu_asg(conv, name, seq, ts, data)
  if not name then return end
  local q = AN[name]
  if q == nil then
    if string.sub(name, 1, 5) ~= 'conv.' then return end
    q = cjson.encode(name)
  elseif not q then
    return
  end
  local k = 'kefu:{c:' .. conv .. '}:assignments'
  -- trimmed only when over its 100 (RPUSH says the length; issue 18)
  if redis.call('RPUSH', k, '{"event":' .. q ..
                ',"seq":' .. (string.match(seq, '^%d+$') or 'null') ..
                ',"ts":' .. ts .. ',"data":' ..
                ((data and data ~= '') and data or 'null') .. '}') > 100 then
    redis.call('LTRIM', k, -100, -1)
  end
end
