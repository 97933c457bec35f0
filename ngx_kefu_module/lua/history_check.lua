#!lua flags=no-writes
-- history_check: KEYS = an agent's conversations (kefu:{s:<site>}:
-- a:<id>:convs).  ARGV = conv.  1 if the list still has it (the agent
-- closed it; one handed over left the list), or if it is a bot
-- conversation of one of the agent's groups (kefu:{s:<site>}:b:<group>,
-- lib/bot.lua: the agents who may take it over read what the bot said),
-- else 0: the part of history.lua's check that lives in the site's slot,
-- made first.  The agent's hash and the bot lists are named on KEYS[1]'s
-- tag.
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
local ak = string.gsub(KEYS[1], ':convs$', '')
local sk = string.match(KEYS[1], '^(kefu:{s:[^}]*}:)')
local g = redis.call('HGET', ak, 'groups')
local ok, gs = pcall(cjson.decode, g or '[]')
if ok and type(gs) == 'table' and sk then
  for _, x in ipairs(gs) do
    if type(x) == 'string'
       and redis.call('ZSCORE', sk .. 'b:' .. x, ARGV[1]) then
      return 1
    end
  end
end
return 0
