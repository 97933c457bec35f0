#!lua
-- bot_sweep: KEYS = the site's bot conversations (kefu:{s:<site>}:bots,
-- lib/bot.lua), the sweep's lease (kefu:{s:<site>}:bots:lease).  ARGV =
-- now (ms), the idle time (ms), the lease (ms), batch.  One worker of all
-- hosts per interval (the lease expires by itself): the bot
-- conversations last seen active (the score) at least the idle time ago,
-- for the worker to read each one's last activity in its own slot.
-- Returns {conv, ...}, or {-1} when another worker holds the lease.
if not redis.call('SET', KEYS[2], '1', 'PX', ARGV[3], 'NX') then
  return {-1}
end
local cut = string.format('%.0f', tonumber(ARGV[1]) - tonumber(ARGV[2]))
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cut, 'LIMIT', 0,
                  tonumber(ARGV[4]))
