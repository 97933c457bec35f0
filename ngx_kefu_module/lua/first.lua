-- first: a visitor's first message on one Redis (no "kefu_redis
-- cluster"; issue 18): open, msg and route_new as one call, in their
-- order, where the cluster makes three (docs/storage.md, "Slots").
-- Every key is on the one server, so the one call is atomic, and it
-- saves two calls' arguments, replies and script runs (a new
-- conversation's cost is these calls, not their commands: docs/routing.md,
-- "Throughput").  KEYS and ARGV as open's (ngx_kefu_msg_argv()); no
-- "#!lua": like msg it spans the conversation's slot and the site's.
-- Returns open's {-3} or {-5} as it is (nothing written), else {code,
-- conv, state, notice, m, n}: open's first four (code 0 made, 1 found;
-- state and notice for one made in state bot), m msg's reply (with its
-- conversation), n route_new's for a conversation made here whose message
-- was stored, else 0.  A message not stored (m not 0) leaves a made
-- conversation in kefu:{s:<site>}:opening, routed by the route sweep, as
-- when route_new is not sent.  What open's part would write for the rest
-- of the call to undo or write again (F1, lib/route.lua) is left to that
-- rest, and written at the end only when it is still needed, also after
-- an error (issue 18: two commands a conversation each).
--@include kefu_event
--@include route
--@include bot
--@include msg
--@include open
--@include route_new
-- What open's part left to the rest of the call (F1, lib/route.lua) and
-- the rest did not make unneeded: written at the end, also when a step
-- failed (f_run()'s error), as open would have left them.
local function f_done()
  local f = F1
  if f.o then redis.call('ZADD', R.sk .. 'opening', ARGV[8], f.o) end
  if f.q then r_count(nil, 'queued') end
  if f.x then
    local vt = redis.call('PTTL', f.x)
    if vt > 0 then redis.call('PEXPIRE', f.x .. ':convs', vt) end
  end
end
local function f_run()
  local o = o_open()
  if o[1] ~= 0 and o[1] ~= 1 then return o end
  -- the record open's step made (and wrote, with its version): route_new's
  -- part takes it as it is instead of reading it back
  local rec = o[1] == 0 and R.rec[o[2]] or nil
  ARGV[4] = o[2]
  -- a conversation made here: its hash is what open's part wrote (R.made:
  -- fields and seq), and no dedup record of 0.1.0's can name it (its id
  -- is new; ids are never used again): msg's part reads neither (issue 18)
  local pv, lg = nil, nil
  if o[1] == 0 and R.made == o[2] and ARGV[3] == 'visitor' and R.mades then
    local f = R.madef
    pv, lg = {f.visitor, f.site, f.state, n_str(R.mades)}, false
  end
  local m = m_run(true, nil, lg, pv)
  -- the message's k_visitor() set the visitor's index's expiry again
  -- (its record's ttl): open's part's is not needed
  if F1.x and KV == F1.x then F1.x = nil end
  local n = 0
  -- and of its hash what route_new's part reads ({seq, site, labels}): the
  -- seq its message got (msg's reply: a number, exact this small), the
  -- site, no labels (a new conversation has none)
  if o[1] == 0 and m[1] == 0 then
    local ch = rec and m[3] < 1e14 and {tostring(m[3]), ARGV[1], false} or nil
    n = rn_route(o[2], rec, ch)
  end
  return {o[1], o[2], o[3] or '', o[4] or '', m, n}
end
F1 = {}
local ok, r = pcall(f_run)
f_done()
if not ok then error(r, 0) end
return r
