-- A message stored (lua/msg.lua on one Redis, lua/msg_slot.lua with
-- "kefu_redis cluster"), and each message of lua/msg_batch.lua:
-- m_run(here, A), A its arguments (ARGV when omitted).  A = site, who,
-- role, conv, cid, id, new conv id (open's), ts, head, mid, tail (the
-- JSON around conv and seq), private, group, dedup ttl, log max length, session, ids (routing's system entries: open's and
-- route_new's), grace (ms); optional, for the HTTP API (role "service"):
-- target visitor, the stream event name (default msg/note), "1" to open a
-- conversation for a target visitor who has none (open's); for visitors,
-- the greeting: mid and tail of its entry (ARGV 22, 23, open's); ARGV 24
-- "0" when the site is outside its business hours (route_new's).  ARGV
-- 25: the SHA-256 of an attached file, which the conversation then holds
-- on to (ngx_kefu_upload_sweep.c).  ARGV 26, 27: whether the group is one
-- the site declares, the default group (open's).  ARGV 28: how long (s)
-- an idle visitor's record is kept if its hello did not say, "" when the
-- record is not due for renewal (ngx_kefu_msg_visitor_ttl()).  ARGV 29
-- "1" when the visitor named no conversation (the worker took the one its
-- connection is in): a closed one is then not where the message goes,
-- nor where its cid is looked up.  ARGV 30, 31: "1" when a visitor's new
-- conversation of the group asked (13), of the default group (27) starts
-- with the site's bot (open's).  One builder, ngx_kefu_msg_argv(), for
-- msg, open and route_new.
-- Counters for welcome summaries (summaries.lua): w:<who> entries written
-- by each writer, pn private notes.
-- A message goes to a conversation that exists: a visitor's first message
-- (and the API's to a target visitor) is three calls, open (the site's
-- slot: the visitor's open conversation, found or made), msg (the
-- conversation's), route_new (routing of a new one): docs/storage.md,
-- "Slots".  Returns {code, conv, seq, id, ts, 0, '', '', state}: code 0
-- stored (state, for a visitor's message: its conversation's now, so that
-- the worker knows whether the bot answers it; only the first six for
-- others), 1 duplicate, -1 forbidden, -2 conversation required, -4 the
-- conversation is closed (service only), -6 no conversation to write to:
-- a visitor's (or a target visitor's) conv is "" or closed, open first.
-- A cid is the sender's within its conversation (its dedup record lives in the
-- conversation's slot): a resend to the conversation it went to finds the
-- original, also once closed; a visitor's resend after a close is a new
-- message.
-- here: the site's side is written in the same step (one Redis: the
-- event on the stream and the convs index, the visitor's record kept
-- alive, an attachment's reference).  Else (a cluster: only the
-- conversation's keys are touched) the worker puts the event with
-- lua/event_put.lua from the reply, which then has a tenth element: the
-- seq of the conversation's message before this one (0 for none), for
-- event_put's check that none is missing (docs/storage.md, "The
-- message's event, via the log").
--@include kefu_event
--@include retain
--@include log
-- m_legacy(site, who, cid): the key of a dedup record as 0.1.0 (the one
-- release so far, CHANGELOG.md) wrote it, per site.  Such a record is
-- still honoured for its window across an upgrade (remove this with the
-- release after 0.1.0), in the site's slot, so only looked at with here
-- (one Redis: 0.1.0 ran on no cluster).  Nothing writes one any more, so
-- msg_batch reads those of all its messages in one MGET before storing
-- any (lg, below): one command a call instead of one a message.
local function m_legacy(site, who, cid)
  return 'kefu:{s:' .. site .. '}:cid:' .. who .. ':' .. cid
end
-- a dedup record's key: per sender and conversation, it lives with it
local function m_dedup_key(c, who, cid)
  return 'kefu:{c:' .. c .. '}:cid:' .. who .. ':' .. cid
end
-- a dedup record's reply, nil for none (or one not of this form)
local function m_dup_of(c, d)
  if not d then return end
  local i, s, t = string.match(d, '^(%d+) (%d+) (%d+)$')
  if i then return {1, c, tonumber(s), i, tonumber(t), 0} end
end
-- the former per-site record (m_legacy), with here only; lg: what
-- msg_batch read of it (false: none), nil: read it here
local function m_dup_legacy(here, lg, A, c)
  if not here then return end
  local d = lg
  if d == nil then d = redis.call('GET', m_legacy(A[1], A[2], A[5])) end
  if d then
    local o, i, s, t = string.match(d, '^(%S+) (%d+) (%d+) (%d+)$')
    if o == c then return {1, c, tonumber(s), i, tonumber(t), 0} end
  end
end
-- a message refused unless it is a resend: the record only read
local function m_dedup(here, lg, A, c)
  return m_dup_of(c, redis.call('GET', m_dedup_key(c, A[2], A[5])))
         or m_dup_legacy(here, lg, A, c)
end
-- The message stored (m_run, once its dedup record is written): seq its
-- seq, v[o + 1 .. o + 4] the hash's counters read with the checks (seq,
-- w:<who>, pn, lm), state the conversation's for the reply, vid the
-- visitor; ckey the conversation's hash and wk its writer's counter, the
-- strings m_run made for its checks (not made again: issue 18).  Functions of their
-- own, not closures in m_run: a closure a message made each of its
-- locals an upvalue (issue 18: a sixth of the Lua's work).
local function m_store(here, A, conv, seq, v, o, state, vid, ckey, wk)
  local site, who, role, id, ts = A[1], A[2], A[3], A[6], A[8]
  local target, ev = A[19] or '', A[20] or ''
  local hs = {'seq', seq, wk, n_inc(v[o + 2] or '0'), 'updated', ts}
  if A[12] == '1' then
    hs[#hs + 1] = 'pn'
    hs[#hs + 1] = n_inc(v[o + 3] or '0')
  end
  local prev = v[o + 4] or '0'
  if not here then
    hs[#hs + 1] = 'lm'
    hs[#hs + 1] = seq
  end
  redis.call('HSET', ckey, unpack(hs))
  local j = A[9] .. conv .. A[10] .. seq .. A[11]
  local name = ev
  if name == '' then name = A[12] == '1' and 'note' or 'msg' end
  -- without here the log is the event's outbox: the entry keeps its
  -- event's name when it is not the default, and the hash the last
  -- message's seq (lm), so that event_put knows one before it is
  -- missing (prev)
  if here or ev == '' then
    l_add(ckey .. ':log', seq, A[15], 'j', j, 'f', who, 'p', A[12],
          's', A[16])
  else
    l_add(ckey .. ':log', seq, A[15], 'j', j, 'f', who, 'p', A[12],
          's', A[16], 'e', ev)
  end
  -- A[28] "": not due for renewal (ngx_kefu_msg_visitor_ttl())
  if here and (role == 'visitor' or target ~= '')
     and (A[28] or '') ~= '' then
    k_visitor('kefu:{s:' .. site .. '}:v:' .. vid, A[28])
  end
  -- a file's references only while they are there (event_put's rule):
  -- none means the file went (the sweep, an erasure), and a set made
  -- now would be no file's, never swept and never expiring
  if here and (A[25] or '') ~= '' then
    local fk = 'kefu:{s:' .. site .. '}:file:' .. A[25]
    if redis.call('EXISTS', fk) == 1 then redis.call('SADD', fk, conv) end
  end
  if here then kefu_event(site, name, conv, seq, ts, j) end
  redis.call('PUBLISH', ckey, A[16] .. '|' .. A[12] .. '|' .. seq .. '|' .. j)
  if not here then
    return {0, conv, tonumber(seq), id, tonumber(ts), 0, '', '', state,
            tonumber(prev)}
  end
  if role == 'visitor' then
    return {0, conv, n_num(seq), id, tonumber(ts), 0, '', '', state}
  end
  return {0, conv, n_num(seq), id, tonumber(ts), 0}
end
-- m_short(V, s, a, n): m_run's A of a message of lua/msg_batch.lua sent
-- in the short form: V[s .. s + 3] msg's ARGV 1, 9, 14, 15, which the
-- call's messages share, V[a + 1 .. a + n] the message's own (ARGV 2, 3,
-- 4, 5, 6, 8, 10, 11, 12, 16, 29, then as many of 28, 25, 19, 20 as it
-- needs); what msg never reads is left out (nil).  (A message alone, by
-- msg, keeps its whole ARGV: there the shorter one saved 0.5%, its table
-- made here costing most of what fewer arguments save.)
local function m_short(V, s, a, n)
  local w, r, c, cid, id, ts, mid, tl, p, ss, im, vt, fl, tg, ev =
    unpack(V, a + 1, a + n)
  return {V[s], w, r, c, cid, id, nil, ts, V[s + 1], mid, tl, p, nil,
          V[s + 2], V[s + 3], ss, nil, nil, tg, ev, nil, nil, nil, nil, fl,
          nil, nil, vt, im}
end
-- lg: what msg_batch read of this message's legacy record (false: none);
-- nil: read it here.  pv: a visitor's message, what the HMGET below would
-- read of the conversation's hash (first.lua's, which made the hash in
-- the same call: issue 18), nil: read it here.
local function m_run(here, A, lg, pv)
  A = A or ARGV
  local site, who, role, conv = A[1], A[2], A[3], A[4]
  local id, ts = A[6], A[8]
  local target = A[19] or ''
  local vid = target
  if role == 'visitor' then vid = string.sub(who, 3) end
  local state = ''
  -- the hash's counters this message moves, read with its checks, so
  -- that one HSET writes them all (and updated) instead of an HINCRBY
  -- each: seq, w:<who>, pn, lm (the HMGET's last four fields, v[o + 1]
  -- on; read in place, not copied into tables of their own)
  local wk = 'w:' .. who
  local ckey = 'kefu:{c:' .. conv .. '}'
  local v, o
  if role == 'visitor' or (target ~= '' and conv == '') then
    if conv == '' then return {-6} end
    v = pv or redis.call('HMGET', ckey, 'visitor',
                         'site', 'state', 'seq', wk, 'pn', 'lm')
    o = 3
    if v[1] ~= vid or v[2] ~= site then
      return {-1}
    end
    if v[3] == 'closed' and A[29] == '1' then return {-6} end
    if v[3] == 'closed' then return m_dedup(here, lg, A, conv) or {-6} end
    -- what the reply says of its state: nothing below changes it
    state = v[3] or ''
  elseif conv == '' then
    return {-2}
  else
    v = redis.call('HMGET', ckey, 'site', 'agent',
                   'state', 'visitor', 'seq', wk, 'pn', 'lm')
    o = 4
    if v[1] ~= site then return {-1} end
    if target ~= '' and v[4] ~= vid then return {-1} end
    if role == 'service' and v[3] == 'closed' then
      return m_dedup(here, lg, A, conv) or {-4}
    end
    if role == 'agent' and v[2] ~= string.sub(who, 3)
       and redis.call('SISMEMBER', ckey .. ':joined', who)
           == 0 then
      return m_dedup(here, lg, A, conv) or {-1}
    end
  end
  -- counted as strings (n_inc: exact past 2^53, as HINCRBY); in the same
  -- place as the seq's HINCRBY was, before the log entry
  local seq = n_inc(v[o + 1] or '0')
  -- A message to be stored: its dedup record is looked up and written by
  -- one SET ... NX GET (issue 18: a GET and a SET a message before), with
  -- the seq it is about to get.  A record there answers it as a dup and
  -- is left as it was; none (or a former per-site one, which no conv's
  -- record can stand beside: nothing writes those any more) and it is
  -- stored.  Should a step below fail, the record goes with the error
  -- (m_store()), so that a resend is stored, not answered as a dup of it.
  local dup = m_dup_legacy(here, lg, A, conv)
  if dup then return dup end
  local dk = m_dedup_key(conv, who, A[5])
  local rec = redis.call('SET', dk, id .. ' ' .. seq .. ' ' .. ts, 'NX',
                         'EX', A[14], 'GET')
  if rec then
    dup = m_dup_of(conv, rec)
    if dup then return dup end
    -- not a record of this form: the message's own replaces it
    redis.call('SET', dk, id .. ' ' .. seq .. ' ' .. ts, 'EX', A[14])
  end
  local ok, r = pcall(m_store, here, A, conv, seq, v, o, state, vid, ckey,
                      wk)
  if ok then return r end
  redis.call('DEL', dk)
  error(r, 0)
end
