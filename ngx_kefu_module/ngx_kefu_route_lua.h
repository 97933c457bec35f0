
/*
 * Lua shared by the routing scripts (docs/routing.md), prepended to their
 * source after NGX_KEFU_LUA_EVENT.  r_init() takes the common arguments:
 * site, now (ms), ids (space-separated message ids for the system entries
 * the script may write, one each), grace (ms), log max length, the acting
 * session ("-" for none).  r_reply() flushes queue positions and returns
 * {code, json, groups that may have more to drain}.
 */


#ifndef _NGX_KEFU_ROUTE_LUA_H_INCLUDED_
#define _NGX_KEFU_ROUTE_LUA_H_INCLUDED_


#define NGX_KEFU_LUA_ROUTE                                                    \
"local R = {}\n"                                                              \
"local function r_init(site, ts, ids, grace, maxlen, sess)\n"                 \
"  R.site, R.ts, R.tss, R.ids, R.idn = site, tonumber(ts), ts, {}, 0\n"       \
"  R.grace, R.maxlen, R.sess, R.dirty, R.more = tonumber(grace), maxlen,\n"   \
"      sess, {}, {}\n"                                                        \
"  R.skip, R.pubs, R.qev, R.vraw = {}, {}, {}, {}\n"                          \
"  R.me, R.mine = nil, {}\n"                                                   \
"  R.sk = 'kefu:{s:' .. site .. '}:'\n"                                       \
"  for i in string.gmatch(ids, '%d+') do R.ids[#R.ids + 1] = i end\n"         \
"end\n"                                                                       \
"local function r_left() return #R.ids - R.idn end\n"                         \
"local function r_ck(conv) return 'kefu:{c:' .. conv .. '}' end\n"            \
"local function r_count(from, to)\n"                                          \
"  if from then redis.call('HINCRBY', R.sk .. 'counts', from, -1) end\n"      \
"  if to then redis.call('HINCRBY', R.sk .. 'counts', to, 1) end\n"           \
"end\n"                                                                       \
"local function r_json(t)\n"                                                  \
"  return (string.gsub(cjson.encode(t), '\"@v:([^\"]*)@\"',\n"               \
"                      function(id) return R.vraw[id] or 'null' end))\n"     \
"end\n"                                                                       \
"local function r_raw(j, kind)\n"                                            \
"  if j and string.sub(j, 1, 1) == kind then return j end\n"                 \
"end\n"                                                                       \
"local function r_visitor(vid)\n"                                            \
"  if not vid then return nil end\n"                                         \
"  if not R.vraw[vid] then\n"                                                \
"    local vk = R.sk .. 'v:' .. vid\n"                                       \
"    local h = redis.call('HMGET', vk, 'name', 'contact', 'attrs', 'ua')\n"   \
"    local p = redis.call('LINDEX', vk .. ':pages', -1)\n"                   \
"    local j = '{\"id\":' .. cjson.encode(vid)\n"                             \
"    if h[1] and h[1] ~= '' then j = j .. ',\"name\":' .. cjson.encode(h[1])\n"\
"    end\n"                                                                   \
"    if h[4] then j = j .. ',\"ua\":' .. cjson.encode(h[4]) end\n"            \
"    for _, f in ipairs({{'contact', h[2]}, {'attrs', h[3]},\n"               \
"                        {'page', p}}) do\n"                                  \
"      if r_raw(f[2], '{') then j = j .. ',\"' .. f[1] .. '\":' .. f[2] end\n"\
"    end\n"                                                                   \
"    R.vraw[vid] = j .. '}'\n"                                                \
"  end\n"                                                                     \
"  return '@v:' .. vid .. '@'\n"                                             \
"end\n"                                                                       \
"local function r_preview(conv)\n"                                           \
"  local es = redis.call('XREVRANGE', 'kefu:{c:' .. conv .. '}:log', '+',\n" \
"                        '-', 'COUNT', 10)\n"                                 \
"  for _, e in ipairs(es) do\n"                                              \
"    local f = {}\n"                                                          \
"    for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end\n"                  \
"    if f.p ~= '1' and f.j then\n"                                           \
"      local ok, m = pcall(cjson.decode, f.j)\n"                             \
"      if ok and type(m) == 'table' then\n"                                  \
"        local t = type(m.text) == 'string' and m.text or ''\n"             \
"        if t == '' and type(m.attachment) == 'table' then\n"                \
"          t = '[' .. tostring(m.attachment.name or 'file') .. ']'\n"        \
"        end\n"                                                               \
"        if t == '' and type(m.name) == 'string' then t = m.name end\n"      \
"        local out, n = {}, 0\n"                                              \
"        for ch in string.gmatch(t, '[%z\\1-\\127\\194-\\244][\\128-\\191]*') do\n"\
"          n = n + 1\n"                                                       \
"          if n > 80 then out[#out + 1] = '...' break end\n"                  \
"          out[#out + 1] = ch\n"                                              \
"        end\n"                                                               \
"        t = table.concat(out)\n"                                            \
"        -- never taken for a visitor's place holder (r_json)\n"             \
"        if string.sub(t, 1, 3) == '@v:' then t = ' ' .. t end\n"            \
"        return t\n"                                                          \
"      end\n"                                                                 \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  return ''\n"                                                               \
"end\n"                                                                       \
"local function r_qitem(conv, group, rank, score)\n"                         \
"  local h = redis.call('HMGET', r_ck(conv), 'visitor', 'offline')\n"        \
"  return {conv = conv, group = group, position = rank + 1,\n"               \
"          since = math.floor(tonumber(score) or 0),\n"                      \
"          offline = h[2] == '1' or nil, visitor = r_visitor(h[1]),\n"        \
"          last = r_preview(conv)}\n"                                         \
"end\n"                                                                       \
"local function r_notice(who, t, sess, flag)\n"                               \
"  redis.call('PUBLISH', 'kefu:u:' .. R.site .. ':' .. who,\n"                \
"             (sess or '-') .. '|' .. (flag or 'u') .. '|0|' ..\n"             \
"             r_json(t))\n"                                                    \
"end\n"                                                                       \
"local function r_agent(aid)\n"                                               \
"  local n = redis.call('HGET', R.sk .. 'a:' .. aid, 'name')\n"               \
"  if n and n ~= '' then return {id = aid, name = n} end\n"                   \
"  return {id = aid}\n"                                                       \
"end\n"                                                                       \
"local function r_entry(conv, t)\n"                                           \
"  local k = r_ck(conv)\n"                                                    \
"  local seq = redis.call('HINCRBY', k, 'seq', 1)\n"                          \
"  R.idn = R.idn + 1\n"                                                       \
"  t.type, t.conv, t.id, t.seq, t.ts = 'msg', conv, R.ids[R.idn], seq, R.ts\n" \
"  t.from = {role = 'system'}\n"                                              \
"  local j = cjson.encode(t)\n"                                               \
"  redis.call('XADD', k .. ':log', 'MAXLEN', '~', R.maxlen, seq .. '-1',\n"    \
"             'j', j,\n"                                                       \
"             'f', 'system', 'p', '0', 's', '-')\n"                           \
"  redis.call('HSET', k, 'updated', R.tss)\n"                                 \
"  R.pubs[#R.pubs + 1] = {'kefu:c:' .. conv, '-|0|' .. seq .. '|' .. j}\n"     \
"  return seq, j\n"                                                           \
"end\n"                                                                       \
"local function r_eta(group, pos)\n"                                          \
"  local gap = tonumber(redis.call('HGET', R.sk .. 'qs:' .. group, 'gap'))\n" \
"  if gap then return math.max(1, math.ceil(gap * pos / 1000)) end\n"         \
"end\n"                                                                       \
"local function r_queued(conv, group, pos)\n"                                 \
"  return {type = 'conv', conv = conv, state = 'queued', group = group,\n"    \
"          position = pos, eta = r_eta(group, pos)}\n"                        \
"end\n"                                                                       \
"local function r_dirty(group, rank)\n"                                       \
"  local d = R.dirty[group]\n"                                                \
"  if d == nil or rank < d then R.dirty[group] = rank end\n"                  \
"end\n"                                                                       \
"local function r_flush()\n"                                                  \
"  for group, from in pairs(R.dirty) do\n"                                    \
"    local cs = redis.call('ZRANGE', R.sk .. 'q:' .. group, from,\n"           \
"                          from + 499)\n"                                      \
"    for i, c in ipairs(cs) do\n"                                             \
"      local v = redis.call('HGET', r_ck(c), 'visitor')\n"                    \
"      if v then r_notice('v:' .. v, r_queued(c, group, from + i)) end\n"     \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  R.dirty = {}\n"                                                            \
"  for _, e in ipairs(R.qev) do\n"                                            \
"    local conv, group = e[1], e[2]\n"                                       \
"    local q = R.sk .. 'q:' .. group\n"                                      \
"    local h = redis.call('HMGET', r_ck(conv), 'state', 'agent')\n"          \
"    local rank = redis.call('ZRANK', q, conv)\n"                            \
"    local n\n"                                                               \
"    if rank and h[1] == 'queued' then\n"                                    \
"      n = r_qitem(conv, group, rank, redis.call('ZSCORE', q, conv))\n"      \
"      n.queued = true\n"                                                     \
"    else\n"                                                                  \
"      n = {conv = conv, group = group, queued = false}\n"                   \
"      if h[2] then n.agent = r_agent(h[2]) end\n"                           \
"    end\n"                                                                   \
"    n.type, n.state, n.reason = 'conv', h[1], 'queue'\n"                    \
"    redis.call('PUBLISH', 'kefu:g:' .. R.site .. ':' .. group,\n"           \
"               '-|t|0|' .. r_json(n))\n"                                    \
"  end\n"                                                                     \
"  R.qev = {}\n"                                                              \
"  for _, p in ipairs(R.pubs) do redis.call('PUBLISH', p[1], p[2]) end\n"      \
"  R.pubs = {}\n"                                                              \
"end\n"                                                                       \
"local function r_dequeue(group, conv)\n"                                     \
"  local q = R.sk .. 'q:' .. group\n"                                         \
"  local rank = redis.call('ZRANK', q, conv)\n"                               \
"  if not rank then return end\n"                                             \
"  redis.call('ZREM', q, conv)\n"                                             \
"  R.qev[#R.qev + 1] = {conv, group}\n"                                        \
"  local s = R.sk .. 'qs:' .. group\n"                                        \
"  local last = tonumber(redis.call('HGET', s, 'last'))\n"                    \
"  if last then\n"                                                            \
"    local d = math.max(0, R.ts - last)\n"                                    \
"    local gap = tonumber(redis.call('HGET', s, 'gap'))\n"                    \
"    if gap then gap = gap * 0.8 + d * 0.2 else gap = d end\n"                \
"    redis.call('HSET', s, 'gap', math.floor(gap))\n"                         \
"  end\n"                                                                     \
"  if redis.call('ZCARD', q) > 0 then\n"                                      \
"    redis.call('HSET', s, 'last', R.tss)\n"                                  \
"  else\n"                                                                    \
"    redis.call('HDEL', s, 'last')\n"                                         \
"  end\n"                                                                     \
"  r_dirty(group, rank)\n"                                                    \
"end\n"                                                                       \
"local function r_enqueue(conv, group, score)\n"                              \
"  local q = R.sk .. 'q:' .. group\n"                                         \
"  local t = redis.call('ZRANGE', q, -1, -1, 'WITHSCORES')\n"                  \
"  if score >= R.ts and t[2] and tonumber(t[2]) >= score then\n"               \
"    score = tonumber(t[2]) + 0.001\n"                                         \
"  end\n"                                                                      \
"  redis.call('ZADD', q, score, conv)\n"                                      \
"  redis.call('HSET', r_ck(conv), 'state', 'queued', 'group', group,\n"       \
"             'queued', R.tss)\n"                                             \
"  redis.call('HDEL', r_ck(conv), 'agent')\n"                                 \
"  local rank = redis.call('ZRANK', q, conv)\n"                               \
"  r_dirty(group, rank)\n"                                                    \
"  R.qev[#R.qev + 1] = {conv, group}\n"                                        \
"  return rank + 1\n"                                                         \
"end\n"                                                                       \
"local function r_avail(h)\n"                                                 \
"  return h[1] == 'online' and ((tonumber(h[2]) or 0) > 0\n"                  \
"         or R.ts - (tonumber(h[6]) or 0) < R.grace)\n"                       \
"end\n"                                                                       \
"local function r_index(aid)\n"                                                \
"  local h = redis.call('HMGET', R.sk .. 'a:' .. aid, 'state', 'conns',\n"     \
"                       'load',\n"                                             \
"                       'capacity', 'last', 'gone', 'groups')\n"               \
"  local load = tonumber(h[3]) or 0\n"                                         \
"  local free = r_avail(h) and load < (tonumber(h[4]) or 0)\n"                 \
"  local score = load * 137438953472\n"                                        \
"                + math.max(0, (tonumber(h[5]) or 0) - 1704067200000)\n"       \
"  for _, g in ipairs(h[7] and cjson.decode(h[7]) or {}) do\n"                 \
"    if free then\n"                                                           \
"      redis.call('ZADD', R.sk .. 'f:' .. g, score, aid)\n"                    \
"    else\n"                                                                   \
"      redis.call('ZREM', R.sk .. 'f:' .. g, aid)\n"                           \
"    end\n"                                                                   \
"  end\n"                                                                      \
"end\n"                                                                        \
"local function r_pick(group, exclude)\n"                                      \
"  local f = R.sk .. 'f:' .. group\n"                                          \
"  while true do\n"                                                            \
"    local c = redis.call('ZRANGE', f, 0, 1)\n"                                \
"    local aid = c[1]\n"                                                       \
"    if aid == exclude then aid = c[2] end\n"                                  \
"    if not aid then return nil end\n"                                         \
"    local ak = R.sk .. 'a:' .. aid\n"                                        \
"    local h = redis.call('HMGET', ak, 'state', 'conns',\n"                   \
"                         'load', 'capacity', 'last', 'gone')\n"               \
"    if (tonumber(h[2]) or 0) > 0 and redis.call('SCARD', ak .. ':c') == 0\n" \
"    then\n"                                                                  \
"      -- a count no connection holds (kept before connections were\n"        \
"      -- leases): gone since long, its grace period due now\n"               \
"      h[2], h[6] = '0', string.format('%d', R.ts - R.grace)\n"               \
"      redis.call('HSET', ak, 'conns', 0, 'gone', h[6])\n"                    \
"      redis.call('ZADD', R.sk .. 'grace', 0, aid)\n"                         \
"    end\n"                                                                   \
"    if r_avail(h) and (tonumber(h[3]) or 0) < (tonumber(h[4]) or 0) then\n"   \
"      return aid\n"                                                           \
"    end\n"                                                                   \
"    redis.call('ZREM', f, aid)\n"                                             \
"  end\n"                                                                      \
"end\n"                                                                        \
"local function r_presence(aid, st, sess)\n"                                  \
"  redis.call('PUBLISH', 'kefu:p:' .. R.site, (sess or '-') .. '|t|0|' ..\n"  \
"             cjson.encode({type = 'presence', agent = aid, state = st}))\n"  \
"end\n"                                                                       \
"local function r_reply(code, t)\n"                                           \
"  r_flush()\n"                                                               \
"  local m = {}\n"                                                            \
"  for g in pairs(R.more) do m[#m + 1] = g end\n"                             \
"  return {code, t and r_json(t) or '',\n"                                     \
"          #m > 0 and cjson.encode(m) or ''}\n"                                \
"end\n"                                                                       \
"local function r_release(aid, conv)\n"                                       \
"  local ak = R.sk .. 'a:' .. aid\n"                                          \
"  if redis.call('SREM', ak .. ':open', conv) == 1 then\n"                    \
"    if redis.call('HINCRBY', ak, 'load', -1) < 0 then\n"                     \
"      redis.call('HSET', ak, 'load', 0)\n"                                   \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  r_index(aid)\n"                                                             \
"end\n"                                                                       \
"local function r_assign(conv, aid, event, text, by, vsess, asess, evname)\n" \
"  local k = r_ck(conv)\n"                                                    \
"  local h = redis.call('HMGET', k, 'state', 'group', 'visitor')\n"           \
"  if h[1] == 'queued' then\n"                                                \
"    r_dequeue(h[2], conv)\n"                                                 \
"    r_count('queued', 'open')\n"                                             \
"  end\n"                                                                     \
"  redis.call('HSET', k, 'state', 'open', 'agent', aid, 'assigned', R.tss)\n" \
"  local ak = R.sk .. 'a:' .. aid\n"                                          \
"  local load = redis.call('HINCRBY', ak, 'load', 1)\n"                      \
"  redis.call('HSET', ak, 'last', R.tss)\n"                                   \
"  redis.call('SADD', ak .. ':open', conv)\n"                                 \
"  redis.call('ZADD', ak .. ':convs', R.ts, conv)\n"                          \
"  r_index(aid)\n"                                                             \
"  local a = r_agent(aid)\n"                                                  \
"  local seq, j = r_entry(conv, {event = event, agent = a, by = by,\n"        \
"      text = text or ('conversation assigned to ' .. (a.name or aid))})\n"   \
"  kefu_event(R.site, evname or 'conv.assigned', conv, seq, R.tss, j)\n"      \
"  local n = {type = 'conv', conv = conv, state = 'open', agent = a,\n"       \
"             group = h[2], reason = event}\n"                                \
"  r_notice('v:' .. h[3], n, vsess)\n"                                        \
"  local an = {type = 'conv', conv = conv, state = 'open', agent = a,\n"      \
"              group = h[2], reason = event, load = load,\n"                  \
"              visitor = r_visitor(h[3])}\n"                                  \
"  if aid == R.me then\n"                                                      \
"    asess = R.sess\n"                                                         \
"    R.mine[#R.mine + 1] = an\n"                                               \
"  end\n"                                                                      \
"  r_notice('a:' .. aid, an, asess)\n"                                        \
"  return n, an\n"                                                            \
"end\n"                                                                       \
"local function r_head(group)\n"                                              \
"  local q = R.sk .. 'q:' .. group\n"                                         \
"  local c = redis.call('ZRANGE', q, 0, 9, 'WITHSCORES')\n"                   \
"  for i = 1, #c, 2 do\n"                                                     \
"    if not R.skip[c[i]] then\n"                                              \
"      if redis.call('HGET', r_ck(c[i]), 'state') == 'queued' then\n"         \
"        return c[i], tonumber(c[i + 1])\n"                                   \
"      end\n"                                                                 \
"      redis.call('ZREM', q, c[i])\n"                                         \
"    end\n"                                                                   \
"  end\n"                                                                     \
"end\n"                                                                       \
"local function r_drain(group, exclude)\n"                                    \
"  while true do\n"                                                           \
"    local head = r_head(group)\n"                                            \
"    if not head then return end\n"                                           \
"    local aid = r_pick(group, exclude)\n"                                    \
"    if not aid then return end\n"                                            \
"    if r_left() < 1 then R.more[group] = 1 return end\n"                     \
"    r_assign(head, aid, 'assigned', nil, nil, '-', '-')\n"                   \
"  end\n"                                                                     \
"end\n"                                                                       \
"local function r_groups(aid)\n"                                              \
"  local g = redis.call('HGET', R.sk .. 'a:' .. aid, 'groups')\n"             \
"  if g then return cjson.decode(g) end\n"                                    \
"  return {}\n"                                                               \
"end\n"                                                                       \
"local function r_drain_agent(aid)\n"                                         \
"  local left = r_groups(aid)\n"                                              \
"  while #left > 0 do\n"                                                      \
"    local bi, bs, bh\n"                                                      \
"    for i, x in ipairs(left) do\n"                                           \
"      local h, s = r_head(x)\n"                                              \
"      if h and (not bs or s < bs) then bi, bs, bh = i, s, h end\n"           \
"    end\n"                                                                   \
"    if not bi then return end\n"                                             \
"    local aid2 = r_pick(left[bi])\n"                                         \
"    if not aid2 then\n"                                                      \
"      table.remove(left, bi)\n"                                              \
"    elseif r_left() < 1 then\n"                                              \
"      R.more[left[bi]] = 1\n"                                                \
"      return\n"                                                              \
"    else\n"                                                                  \
"      r_assign(bh, aid2, 'assigned', nil, nil, '-', '-')\n"                  \
"    end\n"                                                                   \
"  end\n"                                                                     \
"end\n"                                                                       \
"local function r_route(conv, group, vsess)\n"                                \
"  local q = R.sk .. 'q:' .. group\n"                                         \
"  if redis.call('ZCARD', q) == 0 then\n"                                     \
"    local aid = r_pick(group)\n"                                             \
"    if aid then\n"                                                           \
"      return (r_assign(conv, aid, 'assigned', nil, nil, vsess, '-'))\n"      \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  local pos = r_enqueue(conv, group, R.ts)\n"                                \
"  if R.dirty[group] == pos - 1 then R.dirty[group] = pos end\n"              \
"  kefu_event(R.site, 'conv.queued', conv, '', R.tss,\n"                      \
"             cjson.encode({group = group, position = pos}))\n"               \
"  r_drain(group)\n"                                                          \
"  local st = redis.call('HMGET', r_ck(conv), 'state', 'agent')\n"            \
"  if st[1] == 'open' then\n"                                                 \
"    local a = r_agent(st[2])\n"                                              \
"    return {type = 'conv', conv = conv, state = 'open', agent = a,\n"        \
"            group = group, reason = 'assigned'}\n"                           \
"  end\n"                                                                     \
"  local n = r_queued(conv, group, redis.call('ZRANK', q, conv) + 1)\n"       \
"  local v = redis.call('HGET', r_ck(conv), 'visitor')\n"                     \
"  r_notice('v:' .. v, n, vsess)\n"                                           \
"  return n\n"                                                                \
"end\n"

/*
 * Presence as leases (docs/routing.md), after NGX_KEFU_LUA_ROUTE.  Every
 * worker holds a lease per site, kefu:{s:<site>}:leases (token -> expiry,
 * Redis's clock); each agent connection is a record "<token>|<session>" in
 * kefu:{s:<site>}:a:<id>:c, listed under its lease in
 * kefu:{s:<site>}:l:<token> as "<id>|<session>".  "conns" is the count of
 * an agent's records; records go with their lease.  When it drops to 0 a
 * grace deadline goes into kefu:{s:<site>}:grace, which any worker's sweep
 * claims once.  Adding or removing a record is idempotent.
 */
#define NGX_KEFU_LUA_PRESENCE                                                 \
"local function p_now()\n"                                                    \
"  local t = redis.call('TIME')\n"                                            \
"  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"        \
"end\n"                                                                       \
"local function p_split(m)\n"                                                 \
"  return string.match(m, '^(.+)|(%x+)$')\n"                                  \
"end\n"                                                                       \
"local function p_count(aid)\n"                                               \
"  local ak = R.sk .. 'a:' .. aid\n"                                          \
"  local n = redis.call('SCARD', ak .. ':c')\n"                               \
"  redis.call('HSET', ak, 'conns', n)\n"                                      \
"  return n\n"                                                                \
"end\n"                                                                       \
"local function p_add(aid, rec)\n"                                            \
"  local ak = R.sk .. 'a:' .. aid\n"                                          \
"  local before = redis.call('SCARD', ak .. ':c')\n"                          \
"  if redis.call('SADD', ak .. ':c', rec) == 0 then return end\n"             \
"  p_count(aid)\n"                                                            \
"  redis.call('ZREM', R.sk .. 'grace', aid)\n"                                \
"  if before == 0 then r_index(aid) end\n"                                    \
"end\n"                                                                       \
"local function p_del(aid, rec, now)\n"                                       \
"  local ak = R.sk .. 'a:' .. aid\n"                                          \
"  if redis.call('SREM', ak .. ':c', rec) == 0 then return end\n"             \
"  if p_count(aid) == 0 then\n"                                               \
"    redis.call('HSET', ak, 'gone', R.tss)\n"                                 \
"    redis.call('ZADD', R.sk .. 'grace', now + R.grace, aid)\n"               \
"    r_index(aid)\n"                                                          \
"  end\n"                                                                     \
"end\n"                                                                       \
"local function p_purge(tok, now)\n"                                          \
"  local lk = R.sk .. 'l:' .. tok\n"                                          \
"  for _, m in ipairs(redis.call('SMEMBERS', lk)) do\n"                       \
"    local aid, sess = p_split(m)\n"                                          \
"    if aid then p_del(aid, tok .. '|' .. sess, now) end\n"                   \
"  end\n"                                                                     \
"  redis.call('DEL', lk)\n"                                                   \
"  redis.call('ZREM', R.sk .. 'leases', tok)\n"                               \
"end\n"


#endif /* _NGX_KEFU_ROUTE_LUA_H_INCLUDED_ */
