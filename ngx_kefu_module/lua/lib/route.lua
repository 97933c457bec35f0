-- Lua shared by the routing scripts (docs/routing.md), prepended to their
-- source after kefu_event ("--@include route").  r_init() takes the common arguments:
-- site, now (ms), ids (space-separated message ids for the system entries
-- the script may write, one each), grace (ms), log max length, the acting
-- session ("-" for none), the mode ("2": a cluster, the conversation's
-- side is a second call; anything else: one Redis, the same step).
-- r_reply() flushes queue positions and returns {code, json, groups that
-- may have more to drain, 0, the conversations' side to apply (conv,
-- payload, ...: two-step only)}.
--
-- Routing reads and writes only the site's slot: each conversation that
-- is not closed has a routing record there, kefu:{s:<site>}:r:<conv>
-- (state, agent, group, visitor, offline, created, v: the routing
-- version, bumped by every step that changes it; ap: what its
-- conversation's side still has to get, two-step only).  What a step
-- changes of a conversation is gathered (r_set(), r_entry(), r_event())
-- and, at r_reply(), applied to the conversation's hash and log
-- (lib/apply.lua): on one Redis in the same step, in a cluster by the
-- worker's second call (conv_apply.lua), listed meanwhile in
-- kefu:{s:<site>}:apply (conv -> ms) for the route sweep to replay.
--@include num
--@include retain
--@include apply
--@include preview
local R = {}
-- first.lua's new conversation (issue 18), false in every other call: a
-- table, where o_open() leaves to the rest of the call what the call
-- then undoes or writes again (lib/open.lua): o its listing in opening
-- (route_new's part takes it off, so it is not made; else first makes it
-- at its end), q its count as queued (r_assign() counts it open only,
-- else first counts it queued at its end), x the visitor's record whose
-- index's expiry open would set (the message's k_visitor() sets it
-- again; else first sets it at its end)
local F1 = false
-- the step's state as one table constructor, sized for all its fields at
-- once (me too, set later): filled field by field, the table grew six
-- times, each a rehash (issue 18: callgrind put table growth at a tenth
-- of a first message's instructions)
local function r_init(site, ts, ids, grace, maxlen, sess, mode)
  R = {site = site, ts = tonumber(ts), tss = ts, ids = {}, idn = 0,
       grace = tonumber(grace), maxlen = maxlen, sess = sess, dirty = {},
       more = {}, skip = {}, qev = {}, vraw = {}, me = nil, mine = {},
       one = mode ~= '2', rec = {}, ap = {}, apo = {}, out = {}, rw = {},
       ch = {}, made = false, madef = nil, mades = nil, vn = nil, vj = nil,
       sk = 'kefu:{s:' .. site .. '}:'}
  local t = R.ids
  for i in string.gmatch(ids, '%d+') do t[#t + 1] = i end
end
local function r_left() return #R.ids - R.idn end
local function r_ck(conv) return 'kefu:{c:' .. conv .. '}' end
local function r_rk(conv) return R.sk .. 'r:' .. conv end
-- the routing record's fields (the others of a step go to the hash only)
--@const
local RF = {'state', 'agent', 'group', 'visitor', 'offline', 'created'}
-- literal tables, not loops: every call runs this (issue 18: a loop that
-- fills a table here cost a routing call as much as a Redis command)
--@const
local RFS = {state = true, agent = true, group = true, visitor = true,
             offline = true, created = true}
-- what r_write() takes for a conversation whose record the step did not
-- change: read only (E0, lib/apply.lua)
--@const
local E1 = {f = E0, d = E0}
-- what r_rec() reads: v and RF; on a cluster also what the step then
-- reads of the record (r_commit() ap, r_labels() labels, r_preview()
-- last), in the same HMGET (issue 18)
--@const
local RFA = {'v', 'state', 'agent', 'group', 'visitor', 'offline',
             'created'}
--@const
local RFX = {'v', 'state', 'agent', 'group', 'visitor', 'offline',
             'created', 'ap', 'labels', 'last'}
-- a conversation's routing record (a table, cached for the step), nil
-- when it is none of the site's.  One made before the record existed (an
-- upgrade) gets it from its hash, on one Redis only (another slot).
local function r_rec(conv)
  local r = R.rec[conv]
  if r ~= nil then return r or nil end
  local rk = r_rk(conv)
  local h = redis.call('HMGET', rk, unpack(R.one and RFA or RFX))
  if not h[2] and R.one then
    local c = redis.call('HMGET', r_ck(conv), 'site', unpack(RF))
    if c[1] == R.site and c[2] then
      local set = {}
      for i, f in ipairs(RF) do
        h[i + 1] = c[i + 1]
        if c[i + 1] then
          set[#set + 1] = f
          set[#set + 1] = c[i + 1]
        end
      end
      redis.call('HSET', rk, unpack(set))
      local t = redis.call('PTTL', r_ck(conv))
      if t > 0 then redis.call('PEXPIRE', rk, t) end
    end
  end
  if not h[2] then
    R.rec[conv] = false
    return nil
  end
  r = {v = tonumber(h[1]) or 0}
  for i, f in ipairs(RF) do r[f] = h[i + 1] or nil end
  if not R.one then
    local n = #RFA
    r._x, r._ap, r._labels, r._last = true, h[n + 1], h[n + 2], h[n + 3]
  end
  R.rec[conv] = r
  return r
end

-- on one Redis, what the step reads of a conversation's hash, once (issue
-- 18): {seq, site, labels} (r_labels(), then a_apply()'s "pre"); dropped
-- once its side is applied
local function r_hash(conv)
  local h = R.ch[conv]
  if not h then
    h = redis.call('HMGET', r_ck(conv), 'seq', 'site', 'labels')
    R.ch[conv] = h
  end
  return h
end
-- is the conversation still there (its record; on one Redis its hash):
-- one the step read or made is (its record is written at r_commit()), and
-- on one Redis one EXISTS counts both keys
local function r_exists(conv)
  if R.rec[conv] then return true end
  if R.one then
    return redis.call('EXISTS', r_rk(conv), r_ck(conv)) > 0
  end
  return redis.call('EXISTS', r_rk(conv)) == 1
end
-- k_trim() (lib/retain.lua) by the records: the site's slot only.  The
-- entries of conversations gone are looked for by a sample of the adds,
-- one in 4 by the clock, 6 of the oldest a time (up to 1.5 dropped an
-- add, as many as the adds make in the end; issue 18: each add read 2);
-- the bound on every add
local function r_trim(z)
  if R.ts % 4 == 0 then
    local gone = {}
    for _, c in ipairs(redis.call('ZRANGE', z, '0', '5')) do
      if not r_exists(c) then gone[#gone + 1] = c end
    end
    if #gone > 0 then redis.call('ZREM', z, unpack(gone)) end
  end
  local n = redis.call('ZCARD', z)
  if n > 10000 then redis.call('ZREMRANGEBYRANK', z, 0, n - 10001) end
end
-- what the step gives the conversation's side; its deletions, joins and
-- (a cluster's) notices are E0 until it has one (r_apd(), r_apl()):
-- most steps have none (issue 18: three tables a conversation a step)
-- (f: the table of its fields to set, when the caller made it: r_new())
local function r_ap(conv, f)
  local a = R.ap[conv]
  if not a then
    a = {f = f or {}, d = E0, i = {}, j = E0, n = E0}
    R.ap[conv] = a
    R.apo[#R.apo + 1] = conv
  end
  return a
end
-- a field deleted (a.d, or a record's w.d), and a list of a (j, n)
-- appended to, made when first needed
local function r_apd(a, f)
  if a.d == E0 then a.d = {} end
  a.d[f] = true
end
local function r_apl(a, k, x)
  local l = a[k]
  if l == E0 then
    l = {}
    a[k] = l
  end
  l[#l + 1] = x
end
-- what the step writes of a conversation's record: kept (R.rw) and
-- written once, with its version, by r_commit() (issue 18: a step wrote
-- the record at each change, then again for "v")
local function r_rw(conv, f, x)
  local w = R.rw[conv]
  if not w then
    w = {f = {}, d = E0}
    R.rw[conv] = w
  end
  -- cleared only when there (t[k] = nil adds k to a table without it)
  if x then
    w.f[f] = x
    if w.d[f] then w.d[f] = nil end
  else
    w.f[f] = nil
    r_apd(w, f)
  end
end
-- a new conversation (open.lua): its record (t, with v = 0; w, the same
-- fields but v, written at r_commit()), and its hash (the fields h) as
-- the first thing its side gets, made there (apply's "c"); on one Redis
-- its side knows the hash is not there (open checked: r_exists()).  The
-- three tables are the caller's, each made whole by its constructor, and
-- kept, not copied field by field (issue 18: eight table growths)
local function r_new(conv, t, w, h)
  R.rw[conv] = {f = w, d = E0}
  R.rec[conv] = t
  local a = r_ap(conv, h)
  a.c = 1
  a.fresh = R.one or nil
end
-- fields of a conversation: set (t), deleted (del, a list); the record's
-- own fields there too (at r_commit())
-- t: made for this call (every caller's is a constructor): the fields'
-- table of a conversation the step gives nothing yet, not copied into an
-- empty one (issue 18: three table growths an assignment)
local function r_set(conv, t, del)
  local r, a = r_rec(conv), R.ap[conv] or r_ap(conv, t)
  for f, x in pairs(t) do
    a.f[f] = x
    if a.d[f] then a.d[f] = nil end
    if RFS[f] then
      r[f] = x
      r_rw(conv, f, x)
    end
  end
  for _, f in ipairs(del or E0) do
    a.f[f] = nil
    r_apd(a, f)
    if RFS[f] then
      r[f] = nil
      r_rw(conv, f, nil)
    end
  end
end
-- an event of the conversation without a log entry (conv.queued of a new
-- one, conv.rated), in order with its entries
local function r_event(conv, name, data)
  local a = r_ap(conv)
  a.i[#a.i + 1] = {k = 'v', ev = name, d = data, ts = R.tss}
end
-- The record's fields the step changed, its version (one more than the
-- step read: nothing else writes it within the step) and, on a cluster,
-- the side still to apply (ap) go in one HSET; a conversation whose
-- record the step did not read or make gets its version by HINCRBY as
-- before.  Returns the version.
local function r_write(conv)
  local rk, r, w = r_rk(conv), R.rec[conv], R.rw[conv] or E1
  R.rw[conv] = nil
  -- sixteen slots made at once, empty (# is 0), filled from 1: the table
  -- does not grow four times as it fills (issue 18)
  local set, v = {nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil,
                  nil, nil, nil, nil}, nil
  if r then
    v = r.v + 1
    r.v = v
    set[1], set[2] = 'v', n_str(v)
  end
  for f, x in pairs(w.f) do
    set[#set + 1] = f
    set[#set + 1] = x
  end
  if next(w.d) ~= nil then
    local del = {}
    for f in pairs(w.d) do del[#del + 1] = f end
    redis.call('HDEL', rk, unpack(del))
  end
  if not v then v = redis.call('HINCRBY', rk, 'v', '1') end
  return v, set
end
-- the step's changes of each conversation: applied now on one Redis
-- (with their events), else kept in the record and listed for the
-- worker's second call and the sweep.  Returns the conversation
-- channels' publishes, for the end of the step.
local function r_commit()
  local pubs = {}
  for _, conv in ipairs(R.apo) do
    local a, rk = R.ap[conv], r_rk(conv)
    local v, set = r_write(conv)
    if R.one and #set > 0 then redis.call('HSET', rk, unpack(set)) end
    for _, it in ipairs(a.i) do it.v = v end
    if a.x and R.one then redis.call('EXPIRE', rk, a.x) end
    if R.one then
      a.v = v
      local got, gone, seq = a_apply(conv, a, R.maxlen, pubs, false,
                                     R.ch[conv])
      R.ch[conv] = nil
      -- a hash made here (open): its fields and seq, for first.lua's
      -- message, which then does not read it back
      if a.fresh and F1 then R.made, R.madef, R.mades = conv, a.f, seq end
      -- gone (erased): its events are dropped, as in two steps
      for _, it in ipairs(gone and E0 or a.i) do
        if it.k == 'e' then
          local g = got[a_id(it)]
          if it.ev then kefu_event(R.site, it.ev, conv, g[1], it.ts, g[2]) end
        else
          kefu_event(R.site, it.ev, conv, '', it.ts, it.d)
        end
      end
    else
      -- its pending side as r_rec() read it; none for a record the step
      -- made (open) or found missing
      local r, p = R.rec[conv], nil
      if r and r._x then p = r._ap
      elseif r == nil then p = redis.call('HGET', rk, 'ap') end
      p = p and cjson.decode(p) or {f = {}, d = {}, i = {}, j = {}, n = {}}
      p.n = p.n or {}
      for f, x in pairs(a.f) do p.f[f], p.d[f] = x, nil end
      for f in pairs(a.d) do p.f[f], p.d[f] = nil, true end
      for _, it in ipairs(a.i) do p.i[#p.i + 1] = it end
      for _, w in ipairs(a.j) do p.j[#p.j + 1] = w end
      for _, x in ipairs(a.n) do p.n[#p.n + 1] = x end
      if a.x then p.x = a.x end
      if a.c then p.c = 1 end
      p.v = v
      local s = cjson.encode(p)
      set[#set + 1] = 'ap'
      set[#set + 1] = s
      if r then r._ap = s end
      redis.call('HSET', rk, unpack(set))
      if a.x then redis.call('EXPIRE', rk, a.x) end
      redis.call('ZADD', R.sk .. 'apply', 'NX', R.tss, conv)
      R.out[#R.out + 1] = conv
      R.out[#R.out + 1] = s
    end
  end
  -- emptied in place, not made anew (issue 18: two tables a step)
  local apo = R.apo
  for i = #apo, 1, -1 do
    R.ap[apo[i]] = nil
    apo[i] = nil
  end
  return pubs
end
-- Numbers a script gives redis.call() are strings where it can ('1', not
-- 1; R.tss, not R.ts): Redis writes a Lua number into a command's
-- argument by snprintf("%.17g"), about 2,500 instructions each, ten of a
-- new conversation's (issue 18, callgrind).
local function r_count(from, to)
  if from then redis.call('HINCRBY', R.sk .. 'counts', from, '-1') end
  if to then redis.call('HINCRBY', R.sk .. 'counts', to, '1') end
end
-- JSON of a notice, with each visitor's place holder (r_visitor())
-- replaced by that visitor's JSON as stored: attributes keep their
-- numbers as the shop wrote them (cjson would cut them to 14 digits)
-- (the pattern only where a place holder is: callgrind put gsub's scan of
-- every notice at 6% of route_new's instructions; issue 18).  Each place
-- holder found by plain string.find(), not gsub's pattern tried at every
-- character of the notice (issue 18: 20,000 instructions of a new
-- conversation's, whose agent is told of its visitor); an id with a quote
-- in it (none a visitor has) by the pattern, as before.
local function r_json(t)
  local j = cjson.encode(t)
  local i = string.find(j, '"@v:', 1, true)
  if not i then return j end
  local out, p = nil, 1
  while i do
    local e = string.find(j, '@"', i + 4, true)
    if not e then break end
    local id = string.sub(j, i + 4, e - 1)
    if string.find(id, '"', 1, true) then
      return (string.gsub(j, '"@v:([^"]*)@"',
                          function(x) return R.vraw[x] or 'null' end))
    end
    local n = string.find(j, '"@v:', e + 2, true)
    -- the one place holder (an agent's notice): one concatenation, no list
    -- (issue 18)
    if not out and not n then
      return string.sub(j, 1, i - 1) .. (R.vraw[id] or 'null')
             .. string.sub(j, e + 2)
    end
    out = out or {}
    out[#out + 1] = string.sub(j, p, i - 1)
    out[#out + 1] = R.vraw[id] or 'null'
    p = e + 2
    i = n
  end
  out = out or {}
  out[#out + 1] = string.sub(j, p)
  return table.concat(out)
end
local function r_raw(j, kind)
  if j and string.sub(j, 1, 1) == kind then return j end
end
-- what agents are told of a visitor (contract v2): id, name, ua (its
-- User-Agent at hello), contact, attrs, page (its current one)
local function r_visitor(vid)
  if not vid then return nil end
  if not R.vraw[vid] then
    local vk = R.sk .. 'v:' .. vid
    local h = redis.call('HMGET', vk, 'name', 'contact', 'attrs', 'ua')
    local p = redis.call('LINDEX', vk .. ':pages', '-1')
    local j = '{"id":' .. cjson.encode(vid)
    if h[1] and h[1] ~= '' then j = j .. ',"name":' .. cjson.encode(h[1])
    end
    if h[4] then j = j .. ',"ua":' .. cjson.encode(h[4]) end
    -- each in turn, not a loop over a list of pairs (issue 18: its four
    -- tables cost a new conversation as much as a Redis command)
    if r_raw(h[2], '{') then j = j .. ',"contact":' .. h[2] end
    if r_raw(h[3], '{') then j = j .. ',"attrs":' .. h[3] end
    if r_raw(p, '{') then j = j .. ',"page":' .. p end
    R.vraw[vid] = j .. '}'
  end
  return '@v:' .. vid .. '@'
end
-- the latest entry a visitor would see, as a preview (lib/preview.lua)
local function r_preview(conv)
  -- in a cluster the log is another slot: the record's "last", kept by
  -- event_put as each visitor-visible message's event is put
  if R.one == false then
    local r, w = r_rec(conv), R.rw[conv]
    -- open's, not written yet (r_commit())
    if w and w.f.last then return w.f.last end
    if r and r._x then return r._last or '' end
    return r and redis.call('HGET', r_rk(conv), 'last') or ''
  end
  local es = redis.call('XREVRANGE', 'kefu:{c:' .. conv .. '}:log', '+',
                        '-', 'COUNT', 10)
  for _, e in ipairs(es) do
    local f = {}
    for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
    if f.p ~= '1' and f.j then
      local t = p_text(f.j)
      if t then return t end
    end
  end
  return ''
end
-- a queued conversation as the agents' queue shows it
local function r_qitem(conv, group, rank, score)
  local r = r_rec(conv) or E0
  return {conv = conv, group = group, position = rank + 1,
          since = math.floor(tonumber(score) or 0),
          offline = r.offline == '1' or nil, visitor = r_visitor(r.visitor),
          last = r_preview(conv)}
end
-- a rule's labels (docs/automation.md) go with agents' and admins'
-- "conv" notices, never a visitor's: a copy, the caller's table unchanged
local function r_labels(who, t)
  if t.type ~= 'conv' or not t.conv or string.sub(who, 1, 2) == 'v:' then
    return t
  end
  -- a rule's labels are in the conversation's hash (label.lua): on one
  -- Redis read there, in a cluster the record's (label_put.lua)
  local r, l = R.rec[t.conv], nil
  if R.one then l = r_hash(t.conv)[3]
  elseif r and r._x then l = r._labels
  else l = redis.call('HGET', r_rk(t.conv), 'labels') end
  if not l then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  c.labels = cjson.decode(l)
  return c
end
-- on a cluster a notice about a conversation this step changed waits for
-- its side: route_put publishes it once conv_apply wrote it, so that an
-- agent told "open" finds the hash naming it when it writes
-- Returns the notice's JSON when it is t's as given (no labels added), else
-- nil.
local function r_notice(who, t, sess, flag)
  local c = r_labels(who, t)
  local ch = R.sk .. 'u:' .. who
  local j = r_json(c)
  local m = (sess or '-') .. '|' .. (flag or 'u') .. '|0|' .. j
  local a = R.one == false and c.conv and R.ap[c.conv]
  if a then
    r_apl(a, 'n', {ch, m})
  else
    redis.call('PUBLISH', ch, m)
  end
  if c == t then return j end
end
-- the agent's id and name (h: its hash as r_pick() read it, else read)
local function r_agent(aid, h)
  local n = h and h[8] or redis.call('HGET', R.sk .. 'a:' .. aid, 'name')
  if n and n ~= '' then return {id = aid, name = n} end
  return {id = aid}
end
-- an entry whose JSON the worker built around its seq (h .. seq .. tl),
-- id its id, without a stream event: open's greeting
local function r_raw_entry(conv, id, h, tl)
  local a = r_ap(conv)
  a.i[#a.i + 1] = {k = 'e', id = id, h = h, tl = tl, ts = R.tss}
end
-- a system entry of the conversation and the stream event ev it carries
-- (written with its seq when the conversation's side is applied)
local function r_entry(conv, t, ev)
  R.idn = R.idn + 1
  t.type, t.conv, t.id = 'msg', conv, R.ids[R.idn]
  t.from = {role = 'system'}
  local a = r_ap(conv)
  a.i[#a.i + 1] = {k = 'e', ev = ev, t = t, ts = R.tss}
  a.f.updated = R.tss
  if a.d.updated then a.d.updated = nil end
end
local function r_eta(group, pos)
  local gap = tonumber(redis.call('HGET', R.sk .. 'qs:' .. group, 'gap'))
  if gap then return math.max(1, math.ceil(gap * pos / 1000)) end
end
local function r_queued(conv, group, pos)
  return {type = 'conv', conv = conv, state = 'queued', group = group,
          position = pos, eta = r_eta(group, pos)}
end
local function r_dirty(group, rank)
  local d = R.dirty[group]
  if d == nil or rank < d then R.dirty[group] = rank end
end
local function r_flush(pubs)
  for group, from in pairs(R.dirty) do
    local cs = redis.call('ZRANGE', R.sk .. 'q:' .. group, from,
                          from + 499)
    for i, c in ipairs(cs) do
      local v = (r_rec(c) or {}).visitor
      if v then r_notice('v:' .. v, r_queued(c, group, from + i)) end
    end
  end
  -- emptied only when filled (issue 18: two tables a step)
  if next(R.dirty) ~= nil then R.dirty = {} end
  -- the agents of a group hear a conversation enter or leave its queue
  -- (contract v2, "Agents' view"), on kefu:{s:<site>}:g:<group>
  for _, e in ipairs(R.qev) do
    local conv, group = e[1], e[2]
    local q = R.sk .. 'q:' .. group
    local r = r_rec(conv) or E0
    local st, agent = r.state, r.agent
    local rank = redis.call('ZRANK', q, conv)
    local n
    if rank and st == 'queued' then
      n = r_qitem(conv, group, rank, redis.call('ZSCORE', q, conv))
      n.queued = true
    else
      n = {conv = conv, group = group, queued = false}
      if agent then n.agent = r_agent(agent) end
    end
    n.type, n.state, n.reason = 'conv', st, 'queue'
    n = r_labels('g:' .. group, n)
    redis.call('PUBLISH', R.sk .. 'g:' .. group,
               '-|t|0|' .. r_json(n))
  end
  if #R.qev > 0 then R.qev = {} end
  for _, p in ipairs(pubs or E0) do redis.call('PUBLISH', p[1], p[2]) end
end
local function r_dequeue(group, conv)
  local q = R.sk .. 'q:' .. group
  local rank = redis.call('ZRANK', q, conv)
  if not rank then return end
  redis.call('ZREM', q, conv)
  R.qev[#R.qev + 1] = {conv, group}
  local s = R.sk .. 'qs:' .. group
  local last = tonumber(redis.call('HGET', s, 'last'))
  if last then
    local d = math.max(0, R.ts - last)
    local gap = tonumber(redis.call('HGET', s, 'gap'))
    if gap then gap = gap * 0.8 + d * 0.2 else gap = d end
    redis.call('HSET', s, 'gap', math.floor(gap))
  end
  if redis.call('ZCARD', q) > 0 then
    redis.call('HSET', s, 'last', R.tss)
  else
    redis.call('HDEL', s, 'last')
  end
  r_dirty(group, rank)
end
local function r_enqueue(conv, group, score)
  local q = R.sk .. 'q:' .. group
  local t = redis.call('ZRANGE', q, '-1', '-1', 'WITHSCORES')
  if score >= R.ts and t[2] and tonumber(t[2]) >= score then
    score = tonumber(t[2]) + 0.001
  end
  redis.call('ZADD', q, score, conv)
  -- the groups the status endpoint reports (declared or named by an
  -- agent's token, or the conversation went to the default group)
  redis.call('SADD', R.sk .. 'groups', group)
  r_set(conv, {state = 'queued', group = group, queued = R.tss}, {'agent'})
  local rank = redis.call('ZRANK', q, conv)
  r_dirty(group, rank)
  R.qev[#R.qev + 1] = {conv, group}
  return rank + 1
end
local function r_avail(h)
  return h[1] == 'online' and ((n_num(h[2]) or 0) > 0
         or R.ts - (n_num(h[6]) or 0) < R.grace)
end
-- is an agent of the group there to answer (a new conversation queued
-- while nobody is is marked offline: no place in line is promised)
local function r_online(group)
  for _, aid in ipairs(redis.call('SMEMBERS', R.sk .. 'g:' .. group)) do
    local h = redis.call('HMGET', R.sk .. 'a:' .. aid, 'state', 'conns',
                         'load', 'capacity', 'last', 'gone')
    if r_avail(h) then return true end
  end
  return false
end
-- the agent's place in its groups' free sets (h: its hash as r_pick()
-- read it and r_assign() changed it, else read)
--@const
local A = {'state', 'conns', 'load', 'capacity', 'last', 'gone', 'groups',
           'name'}
local function r_index(aid, h)
  h = h or redis.call('HMGET', R.sk .. 'a:' .. aid, unpack(A, 1, 7))
  local load = n_num(h[3]) or 0
  local free = r_avail(h) and load < (n_num(h[4]) or 0)
  local score = load * 137438953472
                + math.max(0, (tonumber(h[5]) or 0) - 1704067200000)
  for _, g in ipairs(h[7] and cjson.decode(h[7]) or E0) do
    if free then
      redis.call('ZADD', R.sk .. 'f:' .. g, score, aid)
    else
      redis.call('ZREM', R.sk .. 'f:' .. g, aid)
    end
  end
end
local function r_pick(group, exclude)
  local f = R.sk .. 'f:' .. group
  while true do
    local c = redis.call('ZRANGE', f, '0', '1')
    local aid = c[1]
    if aid == exclude then aid = c[2] end
    if not aid then return nil end
    local ak = R.sk .. 'a:' .. aid
    -- all of the hash that r_assign() then needs: read once (issue 18)
    local h = redis.call('HMGET', ak, unpack(A))
    if (n_num(h[2]) or 0) > 0 and redis.call('SCARD', ak .. ':c') == 0
    then
      -- a count no connection holds (kept before connections were
      -- leases): gone since long, its grace period due now
      h[2], h[6] = '0', string.format('%d', R.ts - R.grace)
      redis.call('HSET', ak, 'conns', 0, 'gone', h[6])
      redis.call('ZADD', R.sk .. 'grace', 0, aid)
    end
    if r_avail(h) and (n_num(h[3]) or 0) < (n_num(h[4]) or 0) then
      return aid, h
    end
    redis.call('ZREM', f, aid)
  end
end
local function r_presence(aid, st, sess)
  redis.call('PUBLISH', R.sk .. 'p', (sess or '-') .. '|t|0|' ..
             cjson.encode({type = 'presence', agent = aid, state = st}))
end
-- j: t's JSON when the step made it already (R.vj), else nil
local function r_reply(code, t, j)
  r_flush(r_commit())
  local m = ''
  if next(R.more) ~= nil then
    local g = {}
    for x in pairs(R.more) do g[#g + 1] = x end
    m = cjson.encode(g)
  end
  return {code, j or t and r_json(t) or '', m, 0, R.out}
end
local function r_release(aid, conv)
  local ak = R.sk .. 'a:' .. aid
  if redis.call('SREM', ak .. ':open', conv) == 1 then
    if redis.call('HINCRBY', ak, 'load', '-1') < 0 then
      redis.call('HSET', ak, 'load', 0)
    end
  end
  r_index(aid)
end
-- ah: the agent's hash as r_pick() read it (nothing wrote it since), else
-- read here; nq: the conversation is in no queue (route_new's, routed
-- at once), else taken out of its group's
local function r_assign(conv, aid, event, text, by, vsess, asess, evname,
                        ah, nq)
  local r = r_rec(conv)
  -- as they were before the step's r_set(); locals, not a table (issue 18)
  local st, group, vid = r.state, r.group, r.visitor
  if st == 'queued' then
    if not nq then r_dequeue(group, conv) end
    if F1 and F1.q == conv then
      F1.q = nil
      r_count(nil, 'open')
    else
      r_count('queued', 'open')
    end
  end
  r_set(conv, {state = 'open', agent = aid, assigned = R.tss})
  local ak = R.sk .. 'a:' .. aid
  ah = ah or redis.call('HMGET', ak, unpack(A))
  -- the load counted from the read: one HSET with "last" (issue 18)
  local load = (n_num(ah[3]) or 0) + 1
  ah[3], ah[5] = n_str(load), R.tss
  redis.call('HSET', ak, 'load', ah[3], 'last', R.tss)
  redis.call('SADD', ak .. ':open', conv)
  redis.call('ZADD', ak .. ':convs', R.tss, conv)
  r_trim(ak .. ':convs')
  r_index(aid, ah)
  local a = r_agent(aid, ah)
  r_entry(conv, {event = event, agent = a, by = by,
      text = text or ('conversation assigned to ' .. (a.name or aid))},
      evname or 'conv.assigned')
  local n = {type = 'conv', conv = conv, state = 'open', agent = a,
             group = group, reason = event}
  -- the visitor's notice, and its JSON, which route_new's reply is too
  R.vn, R.vj = n, r_notice('v:' .. vid, n, vsess)
  local an = {type = 'conv', conv = conv, state = 'open', agent = a,
              group = group, reason = event, load = load,
              visitor = r_visitor(vid)}
  if aid == R.me then
    asess = R.sess
    R.mine[#R.mine + 1] = an
  end
  r_notice('a:' .. aid, an, asess)
  return n, an
end
local function r_head(group)
  local q = R.sk .. 'q:' .. group
  local c = redis.call('ZRANGE', q, '0', '9', 'WITHSCORES')
  for i = 1, #c, 2 do
    if not R.skip[c[i]] then
      if (r_rec(c[i]) or {}).state == 'queued' then
        return c[i], tonumber(c[i + 1])
      end
      redis.call('ZREM', q, c[i])
    end
  end
end
local function r_drain(group, exclude)
  while true do
    local head = r_head(group)
    if not head then return end
    local aid, ah = r_pick(group, exclude)
    if not aid then return end
    if r_left() < 1 then R.more[group] = 1 return end
    r_assign(head, aid, 'assigned', nil, nil, '-', '-', nil, ah)
  end
end
local function r_groups(aid)
  local g = redis.call('HGET', R.sk .. 'a:' .. aid, 'groups')
  if g then return cjson.decode(g) end
  return {}
end
local function r_drain_agent(aid)
  local left = r_groups(aid)
  while #left > 0 do
    local bi, bs, bh
    for i, x in ipairs(left) do
      local h, s = r_head(x)
      if h and (not bs or s < bs) then bi, bs, bh = i, s, h end
    end
    if not bi then return end
    local aid2, ah = r_pick(left[bi])
    if not aid2 then
      table.remove(left, bi)
    elseif r_left() < 1 then
      R.more[left[bi]] = 1
      return
    else
      r_assign(bh, aid2, 'assigned', nil, nil, '-', '-', nil, ah)
    end
  end
end
local function r_route(conv, group, vsess)
  local q = R.sk .. 'q:' .. group
  if redis.call('ZCARD', q) == 0 then
    local aid, ah = r_pick(group)
    if aid then
      -- the conversation is in no queue yet: no ZRANK to take it out
      return (r_assign(conv, aid, 'assigned', nil, nil, vsess, '-', nil,
                       ah, true))
    end
  end
  local pos = r_enqueue(conv, group, R.ts)
  if R.dirty[group] == pos - 1 then R.dirty[group] = pos end
  r_event(conv, 'conv.queued', cjson.encode({group = group, position = pos}))
  r_drain(group)
  local r = r_rec(conv)
  if r.state == 'open' then
    local a = r_agent(r.agent)
    return {type = 'conv', conv = conv, state = 'open', agent = a,
            group = group, reason = 'assigned'}
  end
  local n = r_queued(conv, group, redis.call('ZRANK', q, conv) + 1)
  R.vn, R.vj = n, r_notice('v:' .. r.visitor, n, vsess)
  return n
end
