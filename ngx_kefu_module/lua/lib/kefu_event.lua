-- Lua shared by the scripts: the site's event stream, kefu:{s:<site>}:events
-- (docs/events.md).  A script that changes a conversation calls
-- kefu_event() in the same atomic step as the change, so the stream holds
-- what happened, in order, and nothing that did not.  Its length is capped
-- (MAXLEN ~ 100000): consumers that fall further behind lose the oldest
-- entries.  A script uses it with "--@include kefu_event".
--
-- It also keeps the indexes the HTTP API reads (docs/api.md).
-- kefu:{s:<site>}:convs orders the site's conversations by their last
-- event; kefu:{c:<conv>}:assignments keeps its state changes (the latest
-- 100) as {"event","seq","ts","data"} (lib/asg.lua).
--@include num
--@include asg
-- K.events: the stream's key, when the script declared it; K.noasg: the
-- conversation's assignments are another slot's (route_put.lua: its
-- conv_apply wrote them); K.convs: a table when the script puts the
-- events of many messages (msg_batch, event_put): the convs index's
-- scores wait there, and kefu_convs() writes them at its end, one ZADD a
-- site instead of one an event (issue 18; the same scores: a
-- conversation's last event's ts)
-- K.trim: with K.convs, the streams written to, trimmed once by
-- kefu_convs() instead of by each XADD (issue 18: the trim's arguments
-- were most of its cost, and a call of 64 events trimmed 64 times)
-- K.zc, K.zt: the conversation and score of the convs index's last ZADD
-- (one Redis): an event of the same conversation with the same ts in the
-- same call skips it (issue 18: a new conversation's conv.created, its
-- first message and its conv.assigned in first.lua, one ts, wrote three;
-- nothing else writes the index in a call that puts events)
-- K.tr: the stream this call's XADDs trimmed (MAXLEN ~) already: the
-- call's later events on it skip the trim's arguments (issue 18: a new
-- conversation's three events in first.lua trimmed three times; the
-- stream is at most as many entries over as the call puts after the
-- first, next to the hundred the approximate trim leaves anyway)
-- K.tv: the last ts found to be decimal digits (a call's events share one)
local K = {trim = {}, zc = false, zt = false, tr = false, tv = false}
local function kefu_event(site, name, conv, seq, ts, data)
  seq, ts = n_str(seq), n_str(ts)
  local ek = K.events or 'kefu:{s:' .. site .. '}:events'
  if K.convs then K.trim[ek] = true end
  -- trimmed at the call's end (K.convs), or by its first XADD (K.tr)
  if K.convs or K.tr == ek then
    redis.call('XADD', ek, '*', 'event', name, 'conv', conv, 'seq', seq,
               'ts', ts, 'data', data)
  else
    -- '100000' a string: a Lua number is formatted by snprintf() (lib/route.lua)
    redis.call('XADD', ek, 'MAXLEN', '~', '100000', '*', 'event', name,
               'conv', conv, 'seq', seq, 'ts', ts, 'data', data)
    K.tr = ek
  end
  if conv ~= '' then
    local t = ts
    if ts ~= K.tv then
      t = string.match(ts, '^%d+$') or '0'
      K.tv = t
    end
    if K.convs then
      local z = K.convs[site]
      if not z then
        z = {ts = {}, order = {}}
        K.convs[site] = z
      end
      if not z.ts[conv] then z.order[#z.order + 1] = conv end
      z.ts[conv] = t
    elseif K.zc ~= conv or K.zt ~= t then
      redis.call('ZADD', 'kefu:{s:' .. site .. '}:convs', t, conv)
      K.zc, K.zt = conv, t
    end
    -- checked here too: most events are a message's, and skip the call
    local q = AN[name]
    if q == nil then q = string.sub(name, 1, 5) == 'conv.' end
    if q and not K.noasg then
      kefu_asg(conv, name, seq, t, data)
    end
  end
end
-- the convs index's scores kept in K.convs, written: one ZADD a site;
-- then the streams trimmed (K.trim)
local function kefu_convs()
  for site, z in pairs(K.convs or {}) do
    local a = {}
    for _, c in ipairs(z.order) do
      a[#a + 1] = z.ts[c]
      a[#a + 1] = c
    end
    redis.call('ZADD', 'kefu:{s:' .. site .. '}:convs', unpack(a))
  end
  K.convs = {}
  for ek in pairs(K.trim) do
    redis.call('XTRIM', ek, 'MAXLEN', '~', '100000')
  end
  K.trim = {}
end
