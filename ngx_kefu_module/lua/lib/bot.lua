-- The bot state (docs/automation.md "The bot state"), after route
-- ("--@include bot").  A conversation in state bot has no agent and is in
-- no queue; it is listed in kefu:{s:<site>}:b:<group> (zset, scored by
-- when it entered) so that the agents of its group see it (queue.bots),
-- and in kefu:{s:<site>}:bots (scored by its last known activity) for the
-- idle sweep (ngx_kefu_bot_idle.c), and counted as counts.bot.  The agents of its
-- group hear it enter and leave on kefu:{s:<site>}:g:<group>, like the
-- queue's notices.
local B = {ev = {}}
local function b_key(group) return R.sk .. 'b:' .. group end
-- enters bot (its hash says so already): listed and counted; announced
-- by b_enter, or later by b_announce (a visitor's new conversation: open
-- lists it, route_new announces it once its first message is stored, so
-- that the agents' notice shows that message)
local function b_list(conv, group)
  redis.call('ZADD', b_key(group), R.ts, conv)
  redis.call('ZADD', R.sk .. 'bots', R.ts, conv)
  r_count(nil, 'bot')
end
local function b_announce(conv, group)
  B.ev[#B.ev + 1] = {conv, group, true}
end
local function b_enter(conv, group)
  b_list(conv, group)
  b_announce(conv, group)
end
-- leaves bot for queued (routing takes it from there: r_assign counts
-- queued to open) or for closed (to given); why is the agents' notice's
-- reason (handoff, accepted, assigned, closed)
local function b_leave(conv, group, why, to)
  redis.call('ZREM', b_key(group), conv)
  redis.call('ZREM', R.sk .. 'bots', conv)
  r_set(conv, {state = to or 'queued'})
  r_count('bot', to or 'queued')
  B.ev[#B.ev + 1] = {conv, group, false, why}
end
-- a bot conversation as the agents' lists show it (r_qitem()'s shape)
local function b_item(conv, group, score)
  local r = r_rec(conv) or {}
  return {conv = conv, group = group, state = 'bot',
          since = math.floor(tonumber(score) or 0),
          visitor = r_visitor(r.visitor), last = r_preview(conv)}
end
-- the agents' notices, once the script's changes are made
local function b_flush()
  for _, e in ipairs(B.ev) do
    local conv, group = e[1], e[2]
    local n
    local r = r_rec(conv) or {}
    local h = {r.state, r.agent}
    if e[3] then
      n = b_item(conv, group, R.ts)
      n.reason = 'bot'
    else
      n = {conv = conv, group = group, state = h[1], reason = e[4]}
      if h[2] then n.agent = r_agent(h[2]) end
    end
    n.type = 'conv'
    redis.call('PUBLISH', R.sk .. 'g:' .. group, '-|t|0|' .. r_json(n))
  end
  B.ev = {}
end
local function b_reply(code, t)
  b_flush()
  return r_reply(code, t)
end
