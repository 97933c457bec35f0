-- A visitor's open conversation, found or made ("--@include open", after
-- kefu_event, route and bot): o_open(), the body of lua/open.lua (its
-- header says what it takes and returns), a function of its own so that
-- lua/first.lua runs it in the same call as the message and its routing
-- (issue 18).
local function o_open()
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
  r_new(conv, {state = state, group = group, visitor = vid, created = ts,
              v = 0},
        {state = state, group = group, visitor = vid, created = ts},
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
  -- first.lua's: left to its message (F1, lib/route.lua)
  if F1 then
    F1.x = ukey
  else
    local vt = redis.call('PTTL', ukey)
    if vt > 0 then redis.call('PEXPIRE', ukey .. ':convs', vt) end
  end
  if not bot then
    if F1 then F1.q = conv else r_count(nil, 'queued') end
  end
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
  if F1 then F1.o = conv
  else redis.call('ZADD', R.sk .. 'opening', ts, conv) end
  local r = r_reply(0)
  return {0, conv, 'queued', '', r[5]}
end
