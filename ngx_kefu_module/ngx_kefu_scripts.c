
/*
 * The Lua scripts that make each chat operation one atomic Redis step.
 *
 * Key layout (docs/storage.md):
 *   kefu:{c:<conv>}                 conversation hash: site, visitor, agent,
 *                                   state, group, seq, created, updated,
 *                                   r:<who> read pointers
 *   kefu:{c:<conv>}:log             stream; entry id "<seq>-1", fields
 *                                   j (the message JSON), f (who wrote it),
 *                                   p (1: private note), s (session)
 *   kefu:{s:<site>}:cid:<who>:<cid> dedup record "conv id seq ts", expires
 *   kefu:{c:<conv>}:joined          set of who joined (supervisors)
 *   kefu:{s:<site>}:<who>           a participant: "open" conversation
 *   kefu:{s:<site>}:<who>:convs     zset of its conversations by time
 * <who> is "v:<id>", "a:<id>" or "m:<id>" (visitor, agent, admin).
 * Channels: kefu:c:<conv> (its traffic), kefu:u:<site>:<who> (a user's).
 *
 * A published payload is "<session>|<flag>|<seq>|<json>" (flag 0, 1 for a
 * private note, t transient, u a participant notice): the worker strips
 * the prefix, uses it to keep a sender's own connection from getting its
 * message back (it gets the ack) and visitors from getting private notes.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route_lua.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_search.h"


/*
 * msg: ARGV = site, who, role, conv ("" for a visitor's open one), cid,
 * id, new conv id, ts, head, mid, tail (the JSON around conv and seq),
 * private, group, dedup ttl, log max length, session, ids (for system
 * entries of routing), grace (ms); optional, for the HTTP API (role
 * "service"): target visitor (its open conversation when conv is ""), the
 * stream event name (default msg/note), "1" to open a conversation for a
 * target visitor who has none; for visitors, the greeting: mid and tail
 * of its entry (ARGV 22, 23, as 10 and 11), written as the first entry of
 * a conversation the message opens; ARGV 24 "0" when the site is outside
 * its business hours.  A new conversation queued while nobody can answer
 * (outside hours, nobody of its group online) is marked offline: the
 * sender is promised no place in line.  ARGV 25: the SHA-256 of an
 * attached file, which the conversation then holds on to
 * (ngx_kefu_upload_sweep.c).
 * Returns {code, conv, seq, id, ts, created, notice, more}: code 0 stored,
 * 1 duplicate, -1 forbidden, -2 conversation required, -3 the target
 * visitor has no open conversation, -4 the conversation is closed (service
 * only), -5 the new conversation's id is taken (nothing was written: run
 * again with fresh ids).  A cid is the sender's within its site, whatever
 * conversation its message went to: a resend after a close finds the
 * original.  A new conversation is routed in the same step
 * (ngx_kefu_route_lua.h): notice is what the sender is told of it (open
 * with its agent, or queued with position), more the groups whose queues
 * may still be drained.
 */

ngx_kefu_script_t  ngx_kefu_script_msg = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
"local function r_online(group)\n"
"  for _, aid in ipairs(redis.call('SMEMBERS', R.sk .. 'g:' .. group)) do\n"
"    local h = redis.call('HMGET', R.sk .. 'a:' .. aid, 'state', 'conns',\n"
"                         'load', 'capacity', 'last', 'gone')\n"
"    if r_avail(h) then return true end\n"
"  end\n"
"  return false\n"
"end\n"
"local site, who, role, conv = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
"local cid, id, ts = ARGV[5], ARGV[6], ARGV[8]\n"
"local target, ev = ARGV[19] or '', ARGV[20] or ''\n"
"local vid = string.sub(who, 3)\n"
"if role ~= 'visitor' then vid = target end\n"
"local ukey = 'kefu:{s:' .. site .. '}:v:' .. vid\n"
"local created = 0\n"
"local ckey\n"
"local dkey = 'kefu:{s:' .. site .. '}:cid:' .. who .. ':' .. cid\n"
"local d = redis.call('GET', dkey)\n"
"if d then\n"
"  local c, i, s, t = string.match(d, '^(%S+) (%d+) (%d+) (%d+)$')\n"
"  if c then return {1, c, tonumber(s), i, tonumber(t), 0} end\n"
"end\n"
"if role == 'visitor' or (target ~= '' and conv == '') then\n"
"  if conv ~= '' then\n"
"    local v = redis.call('HMGET', 'kefu:{c:' .. conv .. '}', 'visitor',\n"
"                         'site', 'state')\n"
"    if v[1] ~= string.sub(who, 3) or v[2] ~= site then\n"
"      return {-1}\n"
"    end\n"
"    if v[3] == 'closed' then conv = '' end\n"
"  end\n"
"  if conv == '' then\n"
"    conv = redis.call('HGET', ukey, 'open')\n"
"    if not conv then\n"
"      if role ~= 'visitor' and ARGV[21] ~= '1' then return {-3} end\n"
"      conv = ARGV[7]\n"
"      if redis.call('EXISTS', 'kefu:{c:' .. conv .. '}') == 1 then\n"
"        return {-5}\n"
"      end\n"
"      created = 1\n"
"      redis.call('HSET', 'kefu:{c:' .. conv .. '}', 'site', site,\n"
"                 'visitor', vid, 'state', 'queued',\n"
"                 'group', ARGV[13], 'seq', 0, 'created', ts,\n"
"                 'updated', ts)\n"
"      redis.call('HSET', ukey, 'open', conv)\n"
"      redis.call('ZADD', ukey .. ':convs', ts, conv)\n"
"      r_init(site, ts, ARGV[17], ARGV[18], ARGV[15], ARGV[16])\n"
"      r_count(nil, 'queued')\n"
"    end\n"
"  end\n"
"elseif conv == '' then\n"
"  return {-2}\n"
"else\n"
"  local v = redis.call('HMGET', 'kefu:{c:' .. conv .. '}', 'site', 'agent',\n"
"                       'state')\n"
"  if v[1] ~= site then return {-1} end\n"
"  if role == 'service' and v[3] == 'closed' then return {-4} end\n"
"  if role == 'agent' and v[2] ~= string.sub(who, 3)\n"
"     and redis.call('SISMEMBER', 'kefu:{c:' .. conv .. '}:joined', who)\n"
"         == 0 then\n"
"    return {-1}\n"
"  end\n"
"end\n"
"ckey = 'kefu:{c:' .. conv .. '}'\n"
"if created == 1 and (ARGV[23] or '') ~= '' then\n"
"  local gs = redis.call('HINCRBY', ckey, 'seq', 1)\n"
"  local gj = ARGV[9] .. conv .. ARGV[22] .. gs .. ARGV[23]\n"
"  redis.call('XADD', ckey .. ':log', 'MAXLEN', '~', ARGV[15],\n"
"             gs .. '-1', 'j', gj, 'f', 'system', 'p', '0', 's', '-')\n"
"  redis.call('PUBLISH', 'kefu:c:' .. conv, '-|0|' .. gs .. '|' .. gj)\n"
"end\n"
"local seq = redis.call('HINCRBY', ckey, 'seq', 1)\n"
"local j = ARGV[9] .. conv .. ARGV[10] .. seq .. ARGV[11]\n"
"redis.call('XADD', ckey .. ':log', 'MAXLEN', '~', ARGV[15],\n"
"           seq .. '-1', 'j', j, 'f', who, 'p', ARGV[12], 's', ARGV[16])\n"
"if (ARGV[25] or '') ~= '' then\n"
"  redis.call('SADD', 'kefu:{s:' .. site .. '}:file:' .. ARGV[25], conv)\n"
"end\n"
"redis.call('HSET', ckey, 'updated', ts)\n"
"redis.call('SET', dkey, conv .. ' ' .. id .. ' ' .. seq .. ' ' .. ts, 'EX',\n"
"           ARGV[14])\n"
"if created == 1 then\n"
"  kefu_event(site, 'conv.created', conv, '', ts,\n"
"             cjson.encode({group = ARGV[13], visitor = vid}))\n"
"end\n"
"if ev ~= '' then\n"
"  kefu_event(site, ev, conv, seq, ts, j)\n"
"elseif ARGV[12] == '1' then\n"
"  kefu_event(site, 'note', conv, seq, ts, j)\n"
"else\n"
"  kefu_event(site, 'msg', conv, seq, ts, j)\n"
"end\n"
"redis.call('PUBLISH', 'kefu:c:' .. conv, ARGV[16] .. '|' .. ARGV[12] ..\n"
"           '|' .. seq .. '|' .. j)\n"
"if created == 1 then\n"
"  local n = r_route(conv, ARGV[13], ARGV[16])\n"
"  if n.state == 'queued' and role == 'visitor' then\n"
"    local on = ARGV[24] ~= '0' and r_online(ARGV[13])\n"
"    if not on then\n"
"      n.position, n.eta, n.offline = nil, nil, true\n"
"      redis.call('HSET', ckey, 'offline', '1')\n"
"    end\n"
"  end\n"
"  local r = r_reply(0, n)\n"
"  return {0, conv, seq, id, tonumber(ts), created, r[2], r[3]}\n"
"end\n"
"return {0, conv, seq, id, tonumber(ts), created}\n"
), { 0 } };


/*
 * range: the log of one conversation from seq ARGV[2] up to ARGV[3]
 * ("+" for the end), at most ARGV[4] entries: {seq, private, session, json}
 * flattened.  Catch-up after a gap, a reconnect or a resume.
 */

ngx_kefu_script_t  ngx_kefu_script_range = { ngx_string(
"local r = redis.call('XRANGE', 'kefu:{c:' .. ARGV[1] .. '}:log',\n"
"                     ARGV[2] .. '-1', ARGV[3], 'COUNT', ARGV[4])\n"
"local out = {}\n"
"for _, e in ipairs(r) do\n"
"  local f = {}\n"
"  for k = 1, #e[2], 2 do f[e[2][k]] = e[2][k + 1] end\n"
"  out[#out + 1] = tonumber(string.match(e[1], '^(%d+)'))\n"
"  out[#out + 1] = f.p or '0'\n"
"  out[#out + 1] = f.s or ''\n"
"  out[#out + 1] = f.j or '{}'\n"
"end\n"
"return out\n"
), { 0 } };


/*
 * summaries: ARGV = site, who, role.  The participant's latest 50
 * conversations and, for an agent, every open one of its own (its index
 * kefu:{s:<site>}:a:<id>:open, however many), each {conv, state, seq,
 * agent, visitor, group, unread}, flattened.  unread counts entries after its read pointer that others
 * wrote (private notes not counted for visitors), scanning at most 500.
 */

ngx_kefu_script_t  ngx_kefu_script_summaries = { ngx_string(
"local site, who, role = ARGV[1], ARGV[2], ARGV[3]\n"
"local pk = 'kefu:{s:' .. site .. '}:' .. who\n"
"local ids = redis.call('ZREVRANGE', pk .. ':convs', 0, 49)\n"
"if role == 'agent' then\n"
"  local seen = {}\n"
"  for _, c in ipairs(ids) do seen[c] = true end\n"
"  for _, c in ipairs(redis.call('SMEMBERS', pk .. ':open')) do\n"
"    if not seen[c] then ids[#ids + 1] = c end\n"
"  end\n"
"end\n"
"local out = {}\n"
"for _, c in ipairs(ids) do\n"
"  local k = 'kefu:{c:' .. c .. '}'\n"
"  local h = redis.call('HMGET', k, 'state', 'seq', 'agent', 'visitor',\n"
"                       'group', 'r:' .. who)\n"
"  if h[1] then\n"
"    local seq = tonumber(h[2]) or 0\n"
"    local rd = tonumber(h[6]) or 0\n"
"    local unread = 0\n"
"    if seq > rd then\n"
"      local es = redis.call('XRANGE', k .. ':log', (rd + 1) .. '-1', '+',\n"
"                            'COUNT', 500)\n"
"      for _, e in ipairs(es) do\n"
"        local f, p = nil, '0'\n"
"        for i = 1, #e[2], 2 do\n"
"          if e[2][i] == 'f' then f = e[2][i + 1] end\n"
"          if e[2][i] == 'p' then p = e[2][i + 1] end\n"
"        end\n"
"        if f ~= who and not (p == '1' and role == 'visitor') then\n"
"          unread = unread + 1\n"
"        end\n"
"      end\n"
"    end\n"
"    out[#out + 1] = c\n"
"    out[#out + 1] = h[1]\n"
"    out[#out + 1] = seq\n"
"    out[#out + 1] = h[3] or ''\n"
"    out[#out + 1] = h[4] or ''\n"
"    out[#out + 1] = h[5] or ''\n"
"    out[#out + 1] = unread\n"
"  end\n"
"end\n"
"return out\n"
), { 0 } };


/*
 * read: ARGV = conv, who, seq, session, json of the read event (less seq).
 * Moves the participant's read pointer forward (never back, never past the
 * last entry) and tells the conversation.  Returns the pointer.
 */

ngx_kefu_script_t  ngx_kefu_script_read = { ngx_string(
"local k = 'kefu:{c:' .. ARGV[1] .. '}'\n"
"local h = redis.call('HMGET', k, 'seq', 'r:' .. ARGV[2])\n"
"local last, cur = tonumber(h[1]) or 0, tonumber(h[2]) or 0\n"
"local seq = math.min(tonumber(ARGV[3]), last)\n"
"if seq <= cur then return cur end\n"
"redis.call('HSET', k, 'r:' .. ARGV[2], seq)\n"
"redis.call('PUBLISH', 'kefu:c:' .. ARGV[1], ARGV[4] .. '|t|0|' ..\n"
"           ARGV[5] .. seq .. '}')\n"
"return seq\n"
), { 0 } };


/*
 * history: ARGV = conv, before (seq, "" for the end), limit, visitor
 * ("1": private notes left out); for a connection that is not a member
 * (a closed conversation read from a later connection), site, who, role:
 * its visitor reads it, so does an agent whose list still has it (it
 * closed it; one handed over left the list) or who joined it, and the
 * site's admins.  Returns {more, json, json, ...} newest first, or {-1}:
 * not the reader's (or no such conversation).
 */

ngx_kefu_script_t  ngx_kefu_script_history = { ngx_string(
"if ARGV[5] then\n"
"  local site, who, role = ARGV[5], ARGV[6], ARGV[7]\n"
"  local ck = 'kefu:{c:' .. ARGV[1] .. '}'\n"
"  local h = redis.call('HMGET', ck, 'site', 'visitor')\n"
"  if h[1] ~= site then return {-1} end\n"
"  local ok = role == 'admin'\n"
"  if role == 'visitor' then ok = h[2] == string.sub(who, 3) end\n"
"  if role == 'agent' then\n"
"    ok = redis.call('ZSCORE', 'kefu:{s:' .. site .. '}:' .. who ..\n"
"                    ':convs', ARGV[1]) ~= false\n"
"         or redis.call('SISMEMBER', ck .. ':joined', who) == 1\n"
"  end\n"
"  if not ok then return {-1} end\n"
"end\n"
"local k = 'kefu:{c:' .. ARGV[1] .. '}:log'\n"
"local limit = tonumber(ARGV[3])\n"
"local top = '+'\n"
"if ARGV[2] ~= '' then\n"
"  local b = tonumber(ARGV[2]) - 1\n"
"  if b < 1 then return {0} end\n"
"  top = b .. '-1'\n"
"end\n"
"local out, items = {0}, 0\n"
"while true do\n"
"  local es = redis.call('XREVRANGE', k, top, '-', 'COUNT', limit + 1)\n"
"  if #es == 0 then return out end\n"
"  for _, e in ipairs(es) do\n"
"    local j, p = nil, '0'\n"
"    for i = 1, #e[2], 2 do\n"
"      if e[2][i] == 'j' then j = e[2][i + 1] end\n"
"      if e[2][i] == 'p' then p = e[2][i + 1] end\n"
"    end\n"
"    if not (p == '1' and ARGV[4] == '1') then\n"
"      if items == limit then out[1] = 1 return out end\n"
"      out[#out + 1] = j\n"
"      items = items + 1\n"
"    end\n"
"    top = '(' .. e[1]\n"
"  end\n"
"end\n"
), { 0 } };


/*
 * node claim: KEYS = kefu:{nodes} (node -> lease expiry, Redis's clock),
 * kefu:{nodes}:owner (node -> token), kefu:{nodes}:floor (node -> the
 * latest floor any holder gave), kefu:{nodes}:cursor.  ARGV = token (the
 * worker's, random), lease time (ms), the node it holds or "" for none,
 * its floor (the latest id millisecond it may mint under the lease, by its
 * own clock).  The node held is renewed if still this worker's; otherwise
 * a free one is taken, looking from a cursor that goes round.  Returns
 * {node, floor of the previous holders}, {-1, "0"} when all 1024 are held.
 */

ngx_kefu_script_t  ngx_kefu_script_node_claim = { ngx_string(
"local tok, ttl, want, fl = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]\n"
"local z, o, f = KEYS[1], KEYS[2], KEYS[3]\n"
"local t = redis.call('TIME')\n"
"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
"for _, n in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', now)) do\n"
"  redis.call('ZREM', z, n)\n"
"  redis.call('HDEL', o, n)\n"
"end\n"
"local function floor(n)\n"
"  local old = redis.call('HGET', f, n) or '0'\n"
"  if tonumber(fl) > tonumber(old) then redis.call('HSET', f, n, fl) end\n"
"  return old\n"
"end\n"
"if want ~= '' and redis.call('HGET', o, want) == tok then\n"
"  redis.call('ZADD', z, now + ttl, want)\n"
"  floor(want)\n"
"  return {tonumber(want), '0'}\n"
"end\n"
"local n\n"
"if want ~= '' and not redis.call('ZSCORE', z, want) then n = want end\n"
"if not n and redis.call('ZCARD', z) < 1024 then\n"
"  local c = redis.call('INCR', KEYS[4])\n"
"  for i = 0, 1023 do\n"
"    local k = tostring((c + i) % 1024)\n"
"    if not redis.call('ZSCORE', z, k) then n = k break end\n"
"  end\n"
"end\n"
"if not n then return {-1, '0'} end\n"
"redis.call('ZADD', z, now + ttl, n)\n"
"redis.call('HSET', o, n, tok)\n"
"return {tonumber(n), floor(n)}\n"
), { 0 } };


/*
 * node release: KEYS as node claim's, ARGV = token, node.  An exiting
 * worker's number is free.
 */

ngx_kefu_script_t  ngx_kefu_script_node_release = { ngx_string(
"if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then\n"
"  redis.call('ZREM', KEYS[1], ARGV[2])\n"
"  redis.call('HDEL', KEYS[2], ARGV[2])\n"
"end\n"
"return 0\n"
), { 0 } };


/* every script, loaded by each Redis connection before it is ready */

ngx_kefu_script_t  *ngx_kefu_scripts[] = {
    &ngx_kefu_script_msg,
    &ngx_kefu_script_range,
    &ngx_kefu_script_summaries,
    &ngx_kefu_script_read,
    &ngx_kefu_script_history,
    &ngx_kefu_script_status,
    &ngx_kefu_script_route_up,
    &ngx_kefu_script_route_down,
    &ngx_kefu_script_route_sweep,
    &ngx_kefu_script_lease_renew,
    &ngx_kefu_script_lease_sync,
    &ngx_kefu_script_lease_release,
    &ngx_kefu_script_node_claim,
    &ngx_kefu_script_node_release,
    &ngx_kefu_script_route_status,
    &ngx_kefu_script_route_accept,
    &ngx_kefu_script_route_handover,
    &ngx_kefu_script_route_close,
    &ngx_kefu_script_route_join,
    &ngx_kefu_script_route_rate,
    &ngx_kefu_script_route_drain,
    &ngx_kefu_script_api_list,
    &ngx_kefu_script_api_conv,
    &ngx_kefu_script_api_log,
    &ngx_kefu_script_api_agents,
    &ngx_kefu_script_api_queue,
    &ngx_kefu_script_settings_get,
    &ngx_kefu_script_settings_put,
    &ngx_kefu_script_avail,
    &ngx_kefu_script_contact,
    &ngx_kefu_script_upload_check,
    &ngx_kefu_script_upload_done,
    &ngx_kefu_script_upload_sweep,
    &ngx_kefu_script_search_index,
    &ngx_kefu_script_search_find,
    &ngx_kefu_script_search_fetch,
    &ngx_kefu_script_canned,
    NULL
};
