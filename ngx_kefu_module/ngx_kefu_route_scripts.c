
/*
 * The routing scripts: each agent action, presence change and queue
 * drain is one atomic Redis script (docs/routing.md).  ARGV 1-6 are the
 * common ones of r_init() (ngx_kefu_route_lua.h); replies are {code,
 * json or message, groups with more to drain}; codes are
 * NGX_KEFU_ROUTE_* (0 done, 1 nothing to do, <0 refused).
 */


#include "ngx_kefu_route.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route_lua.h"


/*
 * presence up: an agent connection said hello.  ARGV 7.. = agent id, name,
 * groups (JSON array), capacity, state on a first connection, the
 * worker's lease token, the session (hex).  The connection's record is
 * added under the lease (again: nothing changes).
 * Returns {0, presence JSON}; its "assigned" lists the notices of what the
 * connecting agent was given (its subscriptions may be too young to hear
 * them).
 */

ngx_kefu_script_t  ngx_kefu_script_route_up = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
NGX_KEFU_LUA_PRESENCE
"r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])\n"
"local aid, tok, sess = ARGV[7], ARGV[12], ARGV[13]\n"
"R.me = aid\n"
"local ak = R.sk .. 'a:' .. aid\n"
"local h = redis.call('HMGET', ak, 'state', 'conns', 'gone', 'groups')\n"
"redis.call('SADD', R.sk .. 'l:' .. tok, aid .. '|' .. sess)\n"
"redis.call('HSET', ak, 'name', ARGV[8], 'groups', ARGV[9],\n"
"           'capacity', ARGV[10])\n"
"redis.call('SADD', R.sk .. 'agents', aid)\n"
"if h[4] then\n"
"  for _, g in ipairs(cjson.decode(h[4])) do\n"
"    redis.call('SREM', R.sk .. 'g:' .. g, aid)\n"
"    redis.call('ZREM', R.sk .. 'f:' .. g, aid)\n"
"  end\n"
"end\n"
"for _, g in ipairs(cjson.decode(ARGV[9])) do\n"
"  redis.call('SADD', R.sk .. 'g:' .. g, aid)\n"
"end\n"
"p_add(aid, tok .. '|' .. sess)\n"
"local st = h[1]\n"
"if not st or st == 'offline' or ((tonumber(h[2]) or 0) <= 0\n"
"   and R.ts - (tonumber(h[3]) or 0) >= R.grace) then\n"
"  st = ARGV[11]\n"
"end\n"
"if st ~= h[1] then\n"
"  redis.call('HSET', ak, 'state', st)\n"
"  r_presence(aid, st, ARGV[6])\n"
"end\n"
"r_index(aid)\n"
"if st == 'online' then r_drain_agent(aid) end\n"
"local n = {type = 'presence', agent = aid, state = st}\n"
"if #R.mine > 0 then n.assigned = R.mine end\n"
"return r_reply(0, n)\n"
), { 0 } };


/*
 * presence down: ARGV 7.. = agent id, lease token, session.  The
 * connection's record goes (again: nothing changes); the last one starts
 * the grace period.  Returns {0, ""}.
 */

ngx_kefu_script_t  ngx_kefu_script_route_down = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
NGX_KEFU_LUA_PRESENCE
"r_init(ARGV[1], ARGV[2], '', ARGV[4], ARGV[5], ARGV[6])\n"
"local aid, tok, sess = ARGV[7], ARGV[8], ARGV[9]\n"
"redis.call('SREM', R.sk .. 'l:' .. tok, aid .. '|' .. sess)\n"
"p_del(aid, tok .. '|' .. sess, p_now())\n"
"return {0, ''}\n"
), { 0 } };


/*
 * lease renew, once per tick and site: ARGV = site, now, token, lease time
 * (ms), grace (ms), "1" if this worker held the lease before.  Lapsed
 * leases of others lose their records; this one is extended.  If this
 * worker's own lease had lapsed too, Redis (or this worker's link to it)
 * was away: a lapse is then no proof that a worker died, and every lapsed
 * lease gets one more lease time to be renewed.  Returns {lost (the own
 * lease had lapsed: its records must be asserted again), leases purged,
 * grace deadlines due}.
 */

ngx_kefu_script_t  ngx_kefu_script_lease_renew = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
NGX_KEFU_LUA_PRESENCE
"r_init(ARGV[1], ARGV[2], '', ARGV[5], '0', '-')\n"
"local tok, ttl = ARGV[3], tonumber(ARGV[4])\n"
"local now = p_now()\n"
"local L = R.sk .. 'leases'\n"
"local s = redis.call('ZSCORE', L, tok)\n"
"local lost = 0\n"
"if ARGV[6] == '1' and (not s or tonumber(s) <= now) then lost = 1 end\n"
"local purged = 0\n"
"for _, l in ipairs(redis.call('ZRANGEBYSCORE', L, '-inf', now,\n"
"                              'LIMIT', 0, 50)) do\n"
"  if lost == 1 then\n"
"    redis.call('ZADD', L, now + ttl, l)\n"
"  elseif l ~= tok then\n"
"    p_purge(l, now)\n"
"    purged = purged + 1\n"
"  end\n"
"end\n"
"redis.call('ZADD', L, now + ttl, tok)\n"
"local due = redis.call('ZCOUNT', R.sk .. 'grace', '-inf', now)\n"
"return {lost, purged, due}\n"
), { 0 } };


/*
 * lease sync: ARGV = site, now, token, lease time, grace, the worker's
 * live agent connections of the site ("<id>|<session>" separated by
 * spaces).  The lease's records become exactly these: what a dropped or
 * lost call left wrong is healed.  Returns {removed, added}.
 */

ngx_kefu_script_t  ngx_kefu_script_lease_sync = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
NGX_KEFU_LUA_PRESENCE
"r_init(ARGV[1], ARGV[2], '', ARGV[5], '0', '-')\n"
"local tok, ttl = ARGV[3], tonumber(ARGV[4])\n"
"local now = p_now()\n"
"local lk = R.sk .. 'l:' .. tok\n"
"local want, removed, added = {}, 0, 0\n"
"for m in string.gmatch(ARGV[6], '%S+') do want[m] = true end\n"
"for _, m in ipairs(redis.call('SMEMBERS', lk)) do\n"
"  if not want[m] then\n"
"    redis.call('SREM', lk, m)\n"
"    local aid, sess = p_split(m)\n"
"    if aid then p_del(aid, tok .. '|' .. sess, now) end\n"
"    removed = removed + 1\n"
"  end\n"
"end\n"
"for m in pairs(want) do\n"
"  local aid, sess = p_split(m)\n"
"  if aid then\n"
"    if redis.call('SADD', lk, m) == 1 then added = added + 1 end\n"
"    p_add(aid, tok .. '|' .. sess)\n"
"  end\n"
"end\n"
"redis.call('ZADD', R.sk .. 'leases', now + ttl, tok)\n"
"return {removed, added}\n"
), { 0 } };


/*
 * lease release, by an exiting worker: ARGV = site, now, token, grace.
 * Its records go at once rather than when the lease would lapse.
 */

ngx_kefu_script_t  ngx_kefu_script_lease_release = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
NGX_KEFU_LUA_PRESENCE
"r_init(ARGV[1], ARGV[2], '', ARGV[4], '0', '-')\n"
"p_purge(ARGV[3], p_now())\n"
"return 0\n"
), { 0 } };


/*
 * sweep: grace deadlines that passed (ARGV 7 = how many at most).  Each is
 * claimed (removed) in this atomic step, so exactly one worker of any host
 * acts on it: if the agent still has no connection it goes offline and its
 * open conversations go back to the front of their queues.  Returns
 * {0, "", more, again, agents made offline, conversations requeued}:
 * again 1 when ids ran out before all were done (the rest stays due).
 */

ngx_kefu_script_t  ngx_kefu_script_route_sweep = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
NGX_KEFU_LUA_PRESENCE
"r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])\n"
"local G = R.sk .. 'grace'\n"
"local now = p_now()\n"
"local again, groups, expired, requeued = 0, {}, 0, 0\n"
"for _, aid in ipairs(redis.call('ZRANGEBYSCORE', G, '-inf', now,\n"
"                                'LIMIT', 0, tonumber(ARGV[7]))) do\n"
"  local ak = R.sk .. 'a:' .. aid\n"
"  local h = redis.call('HMGET', ak, 'conns', 'state')\n"
"  if (tonumber(h[1]) or 0) == 0 then\n"
"    if h[2] ~= 'offline' then\n"
"      redis.call('HSET', ak, 'state', 'offline')\n"
"      r_presence(aid, 'offline')\n"
"      r_index(aid)\n"
"      expired = expired + 1\n"
"    end\n"
"    for _, c in ipairs(redis.call('SMEMBERS', ak .. ':open')) do\n"
"      if r_left() < 2 then again = 1 break end\n"
"      r_release(aid, c)\n"
"      redis.call('ZREM', ak .. ':convs', c)\n"
"      local ch = redis.call('HMGET', r_ck(c), 'state', 'group', 'created',\n"
"                            'agent')\n"
"      if ch[1] == 'open' and ch[4] == aid then\n"
"        r_count('open', 'queued')\n"
"        local seq, j = r_entry(c, {event = 'requeued', agent = r_agent(aid),\n"
"            text = 'the agent went offline; waiting for another agent'})\n"
"        kefu_event(R.site, 'conv.queued', c, seq, R.tss, j)\n"
"        r_enqueue(c, ch[2], tonumber(ch[3]) or R.ts)\n"
"        groups[ch[2]] = 1\n"
"        requeued = requeued + 1\n"
"        r_notice('a:' .. aid, {type = 'conv', conv = c, state = 'queued',\n"
"                 group = ch[2], reason = 'requeued'}, '-', 'l')\n"
"      end\n"
"    end\n"
"  end\n"
"  if again == 1 then break end\n"
"  redis.call('ZREM', G, aid)\n"
"end\n"
"for g in pairs(groups) do r_drain(g) end\n"
"local r = r_reply(0)\n"
"r[4], r[5], r[6] = again, expired, requeued\n"
"return r\n"
), { 0 } };


/*
 * status: ARGV 7.. = agent id, state (online, away).  The presence JSON
 * returned lists in "assigned" the notices of what the agent was given.
 */

ngx_kefu_script_t  ngx_kefu_script_route_status = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
"r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])\n"
"local aid, st = ARGV[7], ARGV[8]\n"
"R.me = aid\n"
"local ak = R.sk .. 'a:' .. aid\n"
"local n = {type = 'presence', agent = aid, state = st}\n"
"if redis.call('SISMEMBER', R.sk .. 'agents', aid) == 0 then\n"
"  return {-3, 'the agent has never connected'}\n"
"end\n"
"if redis.call('HGET', ak, 'state') == st then return r_reply(1, n) end\n"
"redis.call('HSET', ak, 'state', st)\n"
"r_presence(aid, st, R.sess)\n"
"r_index(aid)\n"
"if st == 'online' then r_drain_agent(aid) end\n"
"if #R.mine > 0 then n.assigned = R.mine end\n"
"return r_reply(0, n)\n"
), { 0 } };


/*
 * accept: ARGV 7.. = agent id, conv, name.  A queued conversation of the
 * site becomes the agent's.
 */

ngx_kefu_script_t  ngx_kefu_script_route_accept = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
"r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])\n"
"local aid, conv = ARGV[7], ARGV[8]\n"
"local k = r_ck(conv)\n"
"local h = redis.call('HMGET', k, 'site', 'state', 'agent', 'visitor',\n"
"                     'group')\n"
"if h[1] ~= R.site then return {-2, 'not a conversation of your site'} end\n"
"if h[3] == aid and h[2] == 'open' then\n"
"  return r_reply(1, {type = 'conv', conv = conv, state = 'open',\n"
"                     agent = r_agent(aid), group = h[5],\n"
"                     visitor = r_visitor(h[4]), reason = 'accepted'})\n"
"end\n"
"if h[2] ~= 'queued' then return {-4, 'the conversation is not queued'} end\n"
"if not redis.call('HGET', R.sk .. 'a:' .. aid, 'name') then\n"
"  redis.call('HSET', R.sk .. 'a:' .. aid, 'name', ARGV[9])\n"
"end\n"
"local a = r_agent(aid)\n"
"local n, an = r_assign(conv, aid, 'accepted', 'conversation accepted by ' ..\n"
"                       (a.name or aid), nil, '-', R.sess)\n"
"return r_reply(0, an)\n"
), { 0 } };


/*
 * handover (transfer, assign): ARGV 7.. = conv, target agent ("" for a
 * group), target group, actor who, supervisor ("1"), mode ("transfer",
 * "assign"), actor JSON ({role, id, name}), "1" if the target group is
 * declared (configuration or settings).
 */

ngx_kefu_script_t  ngx_kefu_script_route_handover = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
"r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])\n"
"local conv, to, tg, who, sup, mode = ARGV[7], ARGV[8], ARGV[9], ARGV[10],\n"
"    ARGV[11], ARGV[12]\n"
"local by = cjson.decode(ARGV[13])\n"
"local k = r_ck(conv)\n"
"local h = redis.call('HMGET', k, 'site', 'state', 'agent', 'visitor',\n"
"                     'group',\n"
"                     'created')\n"
"if h[1] ~= R.site then return {-2, 'not a conversation of your site'} end\n"
"local me = string.sub(who, 3)\n"
"if sup ~= '1' and not (string.sub(who, 1, 2) == 'a:' and h[3] == me) then\n"
"  return {-2, 'not your conversation'}\n"
"end\n"
"if h[2] == 'closed' then return {-4, 'the conversation is closed'} end\n"
"if mode == 'transfer' and h[2] ~= 'open' then\n"
"  return {-4, 'the conversation is not open'}\n"
"end\n"
"if to ~= '' then\n"
"  if redis.call('SISMEMBER', R.sk .. 'agents', to) == 0 then\n"
"    return {-3, 'no such agent'}\n"
"  end\n"
"  local t = redis.call('HMGET', R.sk .. 'a:' .. to, 'state', 'conns',\n"
"                       'load',\n"
"                       'capacity', 'last', 'gone')\n"
"  if t[1] ~= 'away' and not r_avail(t) then\n"
"    return {-4, 'the agent is offline'}\n"
"  end\n"
"  if t[1] == 'away' and (tonumber(t[2]) or 0) <= 0\n"
"     and R.ts - (tonumber(t[6]) or 0) >= R.grace then\n"
"    return {-4, 'the agent is offline'}\n"
"  end\n"
"  if to == h[3] then\n"
"    return r_reply(1, {type = 'conv', conv = conv, state = 'open',\n"
"                       agent = r_agent(to), group = h[5]})\n"
"  end\n"
"end\n"
"-- a group is known if declared (ARGV 14: the worker knows it so) or an\n"
"-- agent who signed in named it: a made-up one would be a dead end\n"
"if to == '' and ARGV[14] ~= '1'\n"
"   and redis.call('EXISTS', R.sk .. 'g:' .. tg) == 0 then\n"
"  return {-3, 'no such group'}\n"
"end\n"
"local old = h[3]\n"
"if old then\n"
"  r_release(old, conv)\n"
"  redis.call('ZREM', R.sk .. 'a:' .. old .. ':convs', conv)\n"
"end\n"
"local result\n"
"if to ~= '' then\n"
"  local ta = r_agent(to)\n"
"  local n, an = r_assign(conv, to, mode == 'transfer' and 'transferred'\n"
"      or 'assigned', (mode == 'transfer' and 'transferred to ' or\n"
"      'assigned to ') .. (ta.name or to), by, '-', '-',\n"
"      mode == 'transfer' and 'conv.transferred' or 'conv.assigned')\n"
"  result = an\n"
"  if old then result = n end\n"
"else\n"
"  local seq, j = r_entry(conv, {event = 'transferred', group = tg, by = by,\n"
"                                text = 'transferred to group ' .. tg})\n"
"  kefu_event(R.site, 'conv.transferred', conv, seq, R.tss, j)\n"
"  if h[2] == 'queued' then r_dequeue(h[5], conv) end\n"
"  redis.call('HSET', k, 'group', tg)\n"
"  local aid\n"
"  if redis.call('ZCARD', R.sk .. 'q:' .. tg) == 0 then\n"
"    aid = r_pick(tg, old)\n"
"  end\n"
"  if aid then\n"
"    if h[2] == 'queued' then\n"
"      redis.call('HSET', k, 'state', 'open')\n"
"      r_count('queued', 'open')\n"
"    end\n"
"    local n = r_assign(conv, aid, 'assigned', nil, nil, '-', '-')\n"
"    result = n\n"
"  else\n"
"    if h[2] == 'open' then r_count('open', 'queued') end\n"
"    r_enqueue(conv, tg, tonumber(h[6]) or R.ts)\n"
"    R.skip[conv] = true\n"
"    result = r_queued(conv, tg, redis.call('ZRANK', R.sk .. 'q:' .. tg,\n"
"                                           conv) + 1)\n"
"  end\n"
"end\n"
"if old then\n"
"  local st = redis.call('HMGET', k, 'state', 'agent', 'group')\n"
"  local on = {type = 'conv', conv = conv, state = st[1], group = st[3],\n"
"              reason = 'transferred'}\n"
"  if st[2] then on.agent = r_agent(st[2]) end\n"
"  on.load = tonumber(redis.call('HGET', R.sk .. 'a:' .. old, 'load'))\n"
"  r_notice('a:' .. old, on, R.sess, 'l')\n"
"  if who == 'a:' .. old then result = on end\n"
"  r_drain_agent(old)\n"
"end\n"
"return r_reply(0, result)\n"
), { 0 } };


/*
 * close: ARGV 7.. = conv, actor who, supervisor ("1"), actor JSON.
 */

ngx_kefu_script_t  ngx_kefu_script_route_close = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
"r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])\n"
"local conv, who, sup = ARGV[7], ARGV[8], ARGV[9]\n"
"local by = cjson.decode(ARGV[10])\n"
"local k = r_ck(conv)\n"
"local h = redis.call('HMGET', k, 'site', 'state', 'agent', 'visitor',\n"
"                     'group')\n"
"if h[1] ~= R.site then return {-2, 'not a conversation of your site'} end\n"
"if sup ~= '1' and not (string.sub(who, 1, 2) == 'a:'\n"
"                       and h[3] == string.sub(who, 3)) then\n"
"  return {-2, 'not your conversation'}\n"
"end\n"
"local n = {type = 'conv', conv = conv, state = 'closed', group = h[5],\n"
"           reason = 'closed'}\n"
"if h[3] then n.agent = r_agent(h[3]) end\n"
"if h[2] == 'closed' then return r_reply(1, n) end\n"
"if h[2] == 'queued' then\n"
"  r_dequeue(h[5], conv)\n"
"  r_count('queued', 'closed')\n"
"else\n"
"  r_release(h[3], conv)\n"
"  r_count('open', 'closed')\n"
"end\n"
"redis.call('HSET', k, 'state', 'closed', 'closed', R.tss)\n"
"local vk = R.sk .. 'v:' .. h[4]\n"
"if redis.call('HGET', vk, 'open') == conv then\n"
"  redis.call('HDEL', vk, 'open')\n"
"end\n"
"local seq, j = r_entry(conv, {event = 'closed', by = by,\n"
"                              text = 'conversation closed'})\n"
"kefu_event(R.site, 'conv.closed', conv, seq, R.tss, j)\n"
"r_notice('v:' .. h[4], n, R.sess)\n"
"if h[3] then\n"
"  local an = {type = 'conv', conv = conv, state = 'closed', group = h[5],\n"
"              reason = 'closed', agent = n.agent, visitor = r_visitor(h[4]),\n"
"              load = tonumber(redis.call('HGET', R.sk .. 'a:' .. h[3],\n"
"                                         'load'))}\n"
"  r_notice('a:' .. h[3], an, R.sess)\n"
"  if who == 'a:' .. h[3] then n = an end\n"
"  r_drain_agent(h[3])\n"
"end\n"
"return r_reply(0, n)\n"
), { 0 } };


/*
 * join: ARGV 7.. = conv, actor who, actor JSON.
 */

ngx_kefu_script_t  ngx_kefu_script_route_join = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
"r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])\n"
"local conv, who = ARGV[7], ARGV[8]\n"
"local by = cjson.decode(ARGV[9])\n"
"local k = r_ck(conv)\n"
"local h = redis.call('HMGET', k, 'site', 'state', 'agent', 'visitor',\n"
"                     'group')\n"
"if h[1] ~= R.site then return {-2, 'not a conversation of your site'} end\n"
"local n = {type = 'conv', conv = conv, state = h[2], group = h[5],\n"
"           visitor = r_visitor(h[4]), reason = 'joined'}\n"
"if h[3] then n.agent = r_agent(h[3]) end\n"
"if redis.call('SADD', k .. ':joined', who) == 0 then\n"
"  return r_reply(1, n)\n"
"end\n"
"redis.call('ZADD', R.sk .. who .. ':convs', R.ts, conv)\n"
"local seq, j = r_entry(conv, {event = 'joined', by = by,\n"
"                              text = (by.name or by.id) .. ' joined'})\n"
"kefu_event(R.site, 'conv.joined', conv, seq, R.tss, j)\n"
"r_notice(who, n, R.sess)\n"
"return r_reply(0, n)\n"
), { 0 } };


/*
 * rate: ARGV 7.. = visitor id, conv ("" for the latest), score, comment.
 */

ngx_kefu_script_t  ngx_kefu_script_route_rate = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
"r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])\n"
"local vid, conv = ARGV[7], ARGV[8]\n"
"if conv == '' then\n"
"  conv = redis.call('ZREVRANGE', R.sk .. 'v:' .. vid .. ':convs', 0, 0)[1]\n"
"  if not conv then return {-2, 'no conversation to rate'} end\n"
"end\n"
"local k = r_ck(conv)\n"
"local h = redis.call('HMGET', k, 'site', 'visitor', 'state', 'agent')\n"
"if h[1] ~= R.site or h[2] ~= vid then\n"
"  return {-2, 'not your conversation'}\n"
"end\n"
"if h[3] ~= 'closed' then return {-4, 'the conversation is not closed'} end\n"
"redis.call('HSET', k, 'score', ARGV[9], 'comment', ARGV[10], 'rated', R.tss)\n"
"local rt = {score = tonumber(ARGV[9]), comment = ARGV[10]}\n"
"kefu_event(R.site, 'conv.rated', conv, '', R.tss,\n"
"           cjson.encode({score = rt.score, comment = rt.comment,\n"
"                         agent = h[4], visitor = vid}))\n"
"return r_reply(0, {type = 'conv', conv = conv, state = 'closed',\n"
"                   rating = rt})\n"
), { 0 } };


/*
 * drain: ARGV 7 = JSON array of groups whose queues may have free agents.
 */

ngx_kefu_script_t  ngx_kefu_script_route_drain = { ngx_string(
NGX_KEFU_LUA_EVENT
NGX_KEFU_LUA_ROUTE
"r_init(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])\n"
"for _, g in ipairs(cjson.decode(ARGV[7])) do r_drain(g) end\n"
"return r_reply(0)\n"
), { 0 } };

