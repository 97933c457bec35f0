#!lua flags=no-writes
-- history_check: KEYS = an agent's conversations (kefu:{s:<site>}:
-- a:<id>:convs).  ARGV = conv.  1 if the list still has it (the agent
-- closed it; one handed over left the list), else 0: the part of
-- history.lua's check that lives in the site's slot, made first.
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
return 0
