-- The routing of a conversation open made ("--@include route_new", after
-- kefu_event, route and bot): rn_route(conv), the body of
-- lua/route_new.lua (its header says what it takes and returns), a
-- function of its own so that lua/first.lua runs it in the same call as
-- the conversation's first message (issue 18).  rec: first.lua's, the
-- routing record open's step made and wrote in the same call (one Redis),
-- as r_rec() would read it back, and ch, what r_hash() would read of the
-- conversation's hash after its first message ({seq, site, labels}): not
-- read again (issue 18: two HMGETs).  With rec the step's state is open's
-- part's as its r_reply() left it (its writes made, its lists emptied,
-- no id taken; the same ARGV), not made anew (issue 18).
local function rn_route(conv, rec, ch)
  if rec then
    R.rec[conv], R.ch[conv] = rec, ch
  else
    r_init(ARGV[1], ARGV[8], ARGV[17], ARGV[18], ARGV[15], ARGV[16],
           ARGV[32])
  end
  local role = ARGV[3]
  local rec = r_rec(conv)
  if not rec or not rec.group then return {1, '', ''} end
  -- as locals, not a table (issue 18)
  local st, group, agent = rec.state, rec.group, rec.agent
  if st == 'bot' then
    b_announce(conv, group)
    return b_reply(1, nil)
  end
  -- first.lua's conversation was never listed (F1, lib/route.lua)
  local listed = F1 and F1.o == conv
  if listed then F1.o = nil
  else listed = redis.call('ZREM', R.sk .. 'opening', conv) == 1 end
  if not listed or st ~= 'queued' then
    if st == 'open' and agent then
      return r_reply(0, {type = 'conv', conv = conv, state = 'open',
                         agent = r_agent(agent), group = group,
                         reason = 'assigned'})
    end
    return {1, '', ''}
  end
  local n = r_route(conv, group, ARGV[16])
  if n.state == 'queued' and role == 'visitor' then
    local on = ARGV[24] ~= '0' and r_online(group)
    if not on then
      n.position, n.eta, n.offline = nil, nil, true
      r_set(conv, {offline = '1'})
      R.vn = nil
    end
  end
  -- the visitor's notice as the step encoded it, when n is that notice
  -- and unchanged since (R.vn, R.vj: issue 18, one cjson.encode fewer)
  return r_reply(0, n, n == R.vn and R.vj or nil)
end
