#!lua
-- bot_touch: KEYS = the site's bot conversations (kefu:{s:<site>}:bots).
-- ARGV = conv, ms, conv, ms, ...: each one still in bot and active since
-- is scored by its last activity (only if still listed: a handoff or close
-- meanwhile took it out); ms "" takes out one that is no longer in bot.
for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('ZREM', KEYS[1], ARGV[i])
  else
    redis.call('ZADD', KEYS[1], 'XX', ARGV[i + 1], ARGV[i])
  end
end
return 0
