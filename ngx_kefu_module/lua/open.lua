#!lua
-- open: the visitor's open conversation, found or made; the first of the
-- three calls of a visitor's first message (open, msg, route_new:
-- docs/storage.md, "Slots").  KEYS = the visitor's record
-- (kefu:{s:<site>}:v:<id>, the site's slot, by which the call is routed);
-- ARGV as msg's (ngx_kefu_msg_argv()): the visitor is the sender, or the
-- API's target (role "service", ARGV 19; ARGV 21 "1" to open one for it).
-- A new conversation is created queued, with the site's greeting as its
-- first entry (ARGV 22, 23) and conv.created on the stream, and it is
-- listed in kefu:{s:<site>}:opening (by time) until route_new routes it:
-- one that a worker dying in between left there is routed by the route
-- sweep after 5 s (route_sweep.lua), never stuck.
-- Everything here is the site's slot: the conversation's routing record
-- (lib/route.lua), which route_new and every routing step read, is made
-- now; its hash, the greeting and conv.created are the conversation's
-- side of this step (lib/apply.lua, with "c": the hash is made there),
-- applied in the same step on one Redis, and on a cluster (ARGV 32 "2")
-- returned for the worker to apply (conv_apply, route_put) before msg,
-- which needs the hash; the route sweep replays it if the worker died
-- before (docs/storage.md, "Routing in two steps").

-- A visitor's new conversation of a group whose bot is on (ARGV 30: of
-- the group asked, 13; ARGV 31: of the default group, 27) starts in state
-- bot instead (lib/bot.lua): not listed in opening, not counted queued,
-- never routed by route_new (which only announces it to the agents of its
-- group); it is routed only when handed off.
-- Returns {code, conv, state, notice, side}: code 0 made, 1 found, -3 the
-- target visitor has none, -5 the new conversation's id is taken (nothing
-- was written: run again with fresh ids); state and notice (what the
-- sender is told after its ack) only for one made in state bot; side, on
-- a cluster, the conversation's side to apply first (conv, payload: made
-- now, or found with a step still pending), else empty.
--@include kefu_event
--@include route
--@include bot
local site, who, role, ts = ARGV[1], ARGV[2], ARGV[3], ARGV[8]
local vid = string.sub(who, 3)
if role ~= 'visitor' then vid = ARGV[19] or '' end
local ukey = KEYS[1]
r_init(site, ts, ARGV[17], ARGV[18], ARGV[15], ARGV[16], ARGV[32])
local conv = redis.call('HGET', ukey, 'open')
if conv then
  -- a side still pending (this call's repeat after its worker died, or a
  -- conv_apply that failed): the worker applies it before msg
  local ap = not R.one and redis.call('HGET', r_rk(conv), 'ap')
  if ap then return {1, conv, '', '', {conv, ap}} end
  return {1, conv}
end
if role ~= 'visitor' and ARGV[21] ~= '1' then return {-3} end
conv = ARGV[7]
-- a record that exists: the id is taken (its conversation's hash is
-- another slot; the record lives as long as the hash)
if r_exists(conv) then return {-5} end
local group = ARGV[13]
if ARGV[26] == '0' and redis.call('EXISTS', R.sk .. 'g:' .. group) == 0 then
  group = ARGV[27]
end
local bot = role == 'visitor' and
            (group == ARGV[13] and ARGV[30] or ARGV[31]) == '1'
local state = bot and 'bot' or 'queued'
r_new(conv, {state = state, group = group, visitor = vid, created = ts},
      {site = site, visitor = vid, state = state, group = group,
       created = ts, updated = ts})
-- a cluster's notices take the queue's preview from the record
-- (lib/preview.lua), which event_put keeps; the message that opens the
-- conversation is its first, and route_new may run before its event_put
if not R.one and ARGV[12] ~= '1' then
  local t = p_text(ARGV[9] .. conv .. ARGV[10] .. '0' .. ARGV[11])
  if t and t ~= '' then r_rw(conv, 'last', t) end
end
redis.call('HSET', ukey, 'open', conv)
-- trimmed by the records: the new one's is made
redis.call('ZADD', ukey .. ':convs', ts, conv)
r_trim(ukey .. ':convs')
-- the index expires with the visitor's record (lib/retain.lua), which
-- the visitor's messages renew only now and then (ngx_kefu_msg.c,
-- ngx_kefu_msg_visitor_ttl()): one made here takes the record's expiry
local vt = redis.call('PTTL', ukey)
if vt > 0 then redis.call('PEXPIRE', ukey .. ':convs', vt) end
if not bot then r_count(nil, 'queued') end
if (ARGV[23] or '') ~= '' then
  r_raw_entry(conv, string.match(ARGV[22], '"id":"(%d+)"') or '0',
              ARGV[9] .. conv .. ARGV[22], ARGV[23])
end
r_event(conv, 'conv.created', cjson.encode({group = group, visitor = vid}))
if bot then
  -- the agents hear of it from route_new, after its first message
  b_list(conv, group)
  local r = r_reply(0, {type = 'conv', conv = conv, state = 'bot',
                        group = group})
  return {0, conv, 'bot', r[2], r[5]}
end
-- to be routed: by route_new, or by the sweep if route_new never comes
redis.call('ZADD', R.sk .. 'opening', ts, conv)
local r = r_reply(0)
return {0, conv, 'queued', '', r[5]}
