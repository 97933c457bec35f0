-- The conversation's side of a routing step (docs/storage.md, "Routing in
-- two steps"), "--@include apply".  A routing step decides in the site's
-- slot and leaves, per conversation, what its hash and log must get: p =
-- {v (the routing version), c (1: the step made the conversation, open's:
-- its hash is created if it does not exist), f (fields to set), d (fields
-- to delete, as a set), i (items: {k = "e", v, ev, t, ts} a system entry
-- to append, its JSON t without seq, ev the stream event it carries, or
-- none; {k = "e", v, id, h, tl, ts} one whose JSON is given around its
-- seq, h .. seq .. tl (open's greeting, built by the worker); {k = "v",
-- v, ev, d, ts} an event without an entry), j (supervisors who joined), x
-- (seconds: the keys expire, a close)}.  a_apply() writes it in the
-- conversation's slot: on one Redis in the routing step itself
-- (lib/route.lua), in a cluster as the second call, conv_apply.lua.  An
-- item is written only if its version is above the hash's "v" (a repeat
-- or a late call writes nothing); the fields only if p.v is.  Returns
-- {[entry id] = {seq, JSON}} for every entry given, written now or before
-- ("as", two-step only, keeps the seqs of the latest 32 for a repeat's
-- answer); {} for one written before whose seq is no longer known, or
-- when the conversation is gone (erased, expired: nothing is written, its
-- keys are not made again, unless the payload makes it), so that its
-- event is dropped rather than waited for; second, true when it is
-- gone; third, the hash's seq after it (nil when counted by HINCRBY).
--@include num
--@include retain
--@include log
--@include asg
-- an empty table no call changes, for a list or set that is optional:
-- read in its place instead of a table made at each use (issue 18: a
-- routing step made a dozen such tables, each with its garbage)
--@const
local E0 = {}
-- an entry's id, and its JSON with its seq
local function a_id(it) return it.t and it.t.id or it.id end
local function a_json(it, seq)
  if it.t then return n_json(it.t, seq, it.ts) end
  return it.h .. seq .. it.tl
end
-- pre: what the step read of the hash already (lib/route.lua, r_hash():
-- {seq, site}), else read here
local function a_apply(conv, p, maxlen, pubs, two, pre)
  local k = 'kefu:{c:' .. conv .. '}'
  local as, got, hv = two and {} or E0, {}, 0
  -- the hash's seq, counted here and written with its fields (one HSET,
  -- issue 18), or by HINCRBY past 15 digits (exact there)
  local seq, made
  -- p.fresh: open on one Redis, which made the conversation in this step
  -- and found neither its record nor its hash (r_exists())
  if p.fresh then
    seq, made = 0, true
  else
    -- one read: seq, and site for whether the hash is there (every
    -- conversation's hash has both from open on); on a cluster v and as
    local h = pre or redis.call('HMGET', k, 'seq', 'site', 'v', 'as')
    -- on one Redis too: an erasure takes the conversation's keys before
    -- its routing record (another call), so a step in between, or after
    -- an erasure that stopped half way (a supervisor joining, a rating),
    -- finds the record and no hash; writing would make keys that never
    -- expire
    if not h[1] and not h[2] then
      if not p.c then
        for _, it in ipairs(p.i or E0) do
          if it.k == 'e' then got[a_id(it)] = {} end
        end
        return got, true
      end
      -- the step made the conversation (open): its hash starts here, seq
      -- 0 before its first entry
      seq, made = 0, true
    else
      if #(h[1] or '') <= 15 then seq = n_num(h[1]) or 0 end
      -- one Redis: in the step itself, nothing can have overtaken it
      if two then
        hv = tonumber(h[3]) or 0
        if h[4] then as = cjson.decode(h[4]) end
      end
    end
  end
  local seq0 = seq
  local fresh = false
  for _, it in ipairs(p.i or E0) do
    if tonumber(it.v) > hv then
      if it.k == 'e' then
        local s
        if seq then
          seq = seq + 1
          s = n_str(seq)
        else
          s = n_str(redis.call('HINCRBY', k, 'seq', '1'))
        end
        local j = a_json(it, s)
        l_add(k .. ':log', s, maxlen, 'j', j, 'f', 'system', 'p', '0',
              's', '-')
        pubs[#pubs + 1] = {k, '-|0|' .. s .. '|' .. j}
        got[a_id(it)] = {s, j}
        if two then
          as[#as + 1] = {a_id(it), s}
          kefu_asg(conv, it.ev, s, it.ts, j)
        end
        fresh = true
      elseif two then
        kefu_asg(conv, it.ev, '', it.ts, it.d)
      end
    elseif it.k == 'e' then
      got[a_id(it)] = {}
      for _, x in ipairs(as) do
        if x[1] == a_id(it) then
          local e = redis.call('XRANGE', k .. ':log', x[2] .. '-1',
                               x[2] .. '-1')
          if e[1] then
            for n = 1, #e[1][2], 2 do
              if e[1][2][n] == 'j' then got[a_id(it)] = {x[2], e[1][2][n + 1]}
              end
            end
          end
        end
      end
    end
  end
  if tonumber(p.v) > hv then
    -- sixteen slots made at once (the rest empty: # is 2), filled in
    -- order: the table does not grow three times as it fills (issue 18)
    local set = {'v', n_str(tonumber(p.v)), nil, nil, nil, nil, nil, nil,
                 nil, nil, nil, nil, nil, nil, nil, nil}
    if seq and (made or seq ~= seq0) then
      set[3], set[4] = 'seq', n_str(seq)
    end
    seq0 = seq
    for f, x in pairs(p.f or {}) do
      set[#set + 1] = f
      set[#set + 1] = x
    end
    redis.call('HSET', k, unpack(set))
    if p.d and next(p.d) ~= nil then
      local del = {}
      for f in pairs(p.d) do del[#del + 1] = f end
      redis.call('HDEL', k, unpack(del))
    end
    local j = p.j or E0
    for _, who in ipairs(j) do
      redis.call('SADD', k .. ':joined', who)
    end
    if p.x then k_expire(conv, p.x)
    elseif #j > 0 then k_follow(conv) end
  end
  -- entries whose version was above the hash's come with p.v above it
  -- too; their seq is written in any case
  if seq ~= seq0 then redis.call('HSET', k, 'seq', n_str(seq)) end
  if two and fresh then
    while #as > 32 do table.remove(as, 1) end
    redis.call('HSET', k, 'as', cjson.encode(as))
  end
  return got, false, seq
end
