#!lua flags=no-writes
-- summaries: KEYS = the participant's conversations (kefu:{s:<site>}:
-- <who>:convs), its open ones (<who>:open, an agent's).  ARGV = role.
-- The ids of its latest 50 conversations and, for an agent, of every
-- open one of its own (however many); then summary.lua reads each in its
-- own slot, the calls pipelined (docs/storage.md, "Slots").
local ids = redis.call('ZREVRANGE', KEYS[1], 0, 49)
if ARGV[1] == 'agent' then
  local seen = {}
  for _, c in ipairs(ids) do seen[c] = true end
  for _, c in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    if not seen[c] then ids[#ids + 1] = c end
  end
end
return ids
