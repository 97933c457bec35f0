-- msg: ARGV = site, who, role, conv ("" for a visitor's open one), cid,
-- id, new conv id, ts, head, mid, tail (the JSON around conv and seq),
-- private, group, dedup ttl, log max length, session, ids (for system
-- entries of routing), grace (ms); optional, for the HTTP API (role
-- "service"): target visitor (its open conversation when conv is ""), the
-- stream event name (default msg/note), "1" to open a conversation for a
-- target visitor who has none; for visitors, the greeting: mid and tail
-- of its entry (ARGV 22, 23, as 10 and 11), written as the first entry of
-- a conversation the message opens; ARGV 24 "0" when the site is outside
-- its business hours.  A new conversation queued while nobody can answer
-- (outside hours, nobody of its group online) is marked offline: the
-- sender is promised no place in line.  ARGV 25: the SHA-256 of an
-- attached file, which the conversation then holds on to
-- (ngx_kefu_upload_sweep.c).  ARGV 26: "1" when the group (13) is one the
-- site declares, else a conversation goes to the default group (ARGV 27)
-- unless an agent's token claims the group (kefu:{s:<site>}:g:<group>
-- exists): no queue is made for a made-up name.  ARGV 28: how long (s) an
-- idle visitor's record is kept if its hello did not say (an API target).
-- ARGV 29, 30: "1" when a visitor's new conversation of the group asked
-- (13), of the default group (27) starts with the site's bot: then it is
-- not routed but enters state bot (lib/bot.lua) until a handoff.
-- Counters for welcome summaries (summaries.lua): w:<who> entries written
-- by each writer, pn private notes.
-- Returns {code, conv, seq, id, ts, created, notice, more, state}: code 0
-- stored (state, for a visitor's message: its conversation's now, so that
-- the worker knows whether the bot answers it),
-- 1 duplicate, -1 forbidden, -2 conversation required, -3 the target
-- visitor has no open conversation, -4 the conversation is closed (service
-- only), -5 the new conversation's id is taken (nothing was written: run
-- again with fresh ids).  A cid is the sender's within its conversation
-- (its dedup record lives in the conversation's slot): a resend to the
-- conversation it went to finds the original, also once closed; a
-- visitor's resend without conv after a close is a new message.  A new
-- conversation is routed in the same step (lib/route.lua): notice is what the sender is told of it (open
-- with its agent, or queued with position), more the groups whose queues
-- may still be drained.
--@include kefu_event
--@include route
--@include bot
local site, who, role, conv = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local cid, id, ts = ARGV[5], ARGV[6], ARGV[8]
local target, ev = ARGV[19] or '', ARGV[20] or ''
local vid = string.sub(who, 3)
if role ~= 'visitor' then vid = target end
local ukey = 'kefu:{s:' .. site .. '}:v:' .. vid
local group = ARGV[13]
local created = 0
local bot = false
local ckey
-- dedup is per sender and conversation: the record lives with it
local function dedup_key(c)
  return 'kefu:{c:' .. c .. '}:cid:' .. who .. ':' .. cid
end
local function dedup(c)
  local d = redis.call('GET', dedup_key(c))
  if d then
    local i, s, t = string.match(d, '^(%d+) (%d+) (%d+)$')
    if i then return {1, c, tonumber(s), i, tonumber(t), 0} end
  end
  -- a record of before 0.1.x's per-site dedup, kept for its window
  -- across an upgrade (then gone: remove this with the next release)
  d = redis.call('GET', 'kefu:{s:' .. site .. '}:cid:' .. who .. ':' .. cid)
  if d then
    local o, i, s, t = string.match(d, '^(%S+) (%d+) (%d+) (%d+)$')
    if o == c then return {1, c, tonumber(s), i, tonumber(t), 0} end
  end
end
local dup
if role == 'visitor' or (target ~= '' and conv == '') then
  if conv ~= '' then
    local v = redis.call('HMGET', 'kefu:{c:' .. conv .. '}', 'visitor',
                         'site', 'state')
    if v[1] ~= string.sub(who, 3) or v[2] ~= site then
      return {-1}
    end
    dup = dedup(conv)
    if dup then return dup end
    if v[3] == 'closed' then conv = '' end
  end
  if conv == '' then
    conv = redis.call('HGET', ukey, 'open')
    if conv then
      dup = dedup(conv)
      if dup then return dup end
    else
      if role ~= 'visitor' and ARGV[21] ~= '1' then return {-3} end
      conv = ARGV[7]
      if redis.call('EXISTS', 'kefu:{c:' .. conv .. '}') == 1 then
        return {-5}
      end
      created = 1
      if ARGV[26] == '0' and redis.call('EXISTS', 'kefu:{s:' .. site ..
                                        '}:g:' .. group) == 0 then
        group = ARGV[27]
      end
      if role == 'visitor' then
        bot = (group == ARGV[13] and ARGV[29] or ARGV[30]) == '1'
      end
      redis.call('HSET', 'kefu:{c:' .. conv .. '}', 'site', site,
                 'visitor', vid, 'state', bot and 'bot' or 'queued',
                 'group', group, 'seq', 0, 'created', ts,
                 'updated', ts)
      redis.call('HSET', ukey, 'open', conv)
      redis.call('ZADD', ukey .. ':convs', ts, conv)
      k_trim(ukey .. ':convs')
      r_init(site, ts, ARGV[17], ARGV[18], ARGV[15], ARGV[16])
      -- its routing record, in the site's slot (lib/route.lua)
      r_new(conv, {state = bot and 'bot' or 'queued', group = group,
                   visitor = vid, created = ts})
      if not bot then r_count(nil, 'queued') end
    end
  end
elseif conv == '' then
  return {-2}
else
  local v = redis.call('HMGET', 'kefu:{c:' .. conv .. '}', 'site', 'agent',
                       'state')
  if v[1] ~= site then return {-1} end
  dup = dedup(conv)
  if dup then return dup end
  if role == 'service' and v[3] == 'closed' then return {-4} end
  if role == 'agent' and v[2] ~= string.sub(who, 3)
     and redis.call('SISMEMBER', 'kefu:{c:' .. conv .. '}:joined', who)
         == 0 then
    return {-1}
  end
end
ckey = 'kefu:{c:' .. conv .. '}'
if created == 1 and (ARGV[23] or '') ~= '' then
  local gs = n_str(redis.call('HINCRBY', ckey, 'seq', 1))
  local gj = ARGV[9] .. conv .. ARGV[22] .. gs .. ARGV[23]
  redis.call('XADD', ckey .. ':log', 'MAXLEN', '~', ARGV[15],
             gs .. '-1', 'j', gj, 'f', 'system', 'p', '0', 's', '-')
  redis.call('PUBLISH', 'kefu:{c:' .. conv .. '}', '-|0|' .. gs .. '|' .. gj)
end
local seq = n_str(redis.call('HINCRBY', ckey, 'seq', 1))
local j = ARGV[9] .. conv .. ARGV[10] .. seq .. ARGV[11]
redis.call('XADD', ckey .. ':log', 'MAXLEN', '~', ARGV[15],
           seq .. '-1', 'j', j, 'f', who, 'p', ARGV[12], 's', ARGV[16])
redis.call('HINCRBY', ckey, 'w:' .. who, 1)
if ARGV[12] == '1' then redis.call('HINCRBY', ckey, 'pn', 1) end
if (role == 'visitor' or target ~= '') and ARGV[28] then
  k_visitor(ukey, ARGV[28])
end
if (ARGV[25] or '') ~= '' then
  redis.call('SADD', 'kefu:{s:' .. site .. '}:file:' .. ARGV[25], conv)
end
redis.call('HSET', ckey, 'updated', ts)
redis.call('SET', dedup_key(conv), id .. ' ' .. seq .. ' ' .. ts, 'EX',
           ARGV[14])
if created == 1 then
  kefu_event(site, 'conv.created', conv, '', ts,
             cjson.encode({group = group, visitor = vid}))
end
if ev ~= '' then
  kefu_event(site, ev, conv, seq, ts, j)
elseif ARGV[12] == '1' then
  kefu_event(site, 'note', conv, seq, ts, j)
else
  kefu_event(site, 'msg', conv, seq, ts, j)
end
redis.call('PUBLISH', 'kefu:{c:' .. conv .. '}', ARGV[16] .. '|' .. ARGV[12] ..
           '|' .. seq .. '|' .. j)
if bot then
  b_enter(conv, group)
  local n = {type = 'conv', conv = conv, state = 'bot', group = group}
  local r = b_reply(0, n)
  return {0, conv, tonumber(seq), id, tonumber(ts), created, r[2], r[3],
          'bot'}
end
if created == 1 then
  local n = r_route(conv, group, ARGV[16])
  if n.state == 'queued' and role == 'visitor' then
    local on = ARGV[24] ~= '0' and r_online(group)
    if not on then
      n.position, n.eta, n.offline = nil, nil, true
      r_set(conv, {offline = '1'})
    end
  end
  local r = r_reply(0, n)
  return {0, conv, tonumber(seq), id, tonumber(ts), created, r[2], r[3],
          n.state}
end
if role == 'visitor' then
  return {0, conv, tonumber(seq), id, tonumber(ts), created, '', '',
          redis.call('HGET', ckey, 'state') or ''}
end
return {0, conv, tonumber(seq), id, tonumber(ts), created}
