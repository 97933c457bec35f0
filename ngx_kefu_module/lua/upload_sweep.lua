#!lua
-- upload sweep: KEYS = the site's files (kefu:{s:<site>}:files), the
-- sweep's lease (files:sweep).  ARGV = now (ms), batch, next look (ms
-- from now), lease (ms).  One worker of all hosts per interval looks at
-- the files due: a reference "p:<until>" (an upload waiting for its
-- message) lapsed is dropped; a file with no conversation among its
-- references is decided here (none alive: its set and its entry go, and
-- the worker deletes it); one with conversations is looked at again
-- later, and the worker asks each conversation's slot whether its hash is
-- gone, then upload_reap.lua drops those.  At most 64 conversations of a
-- file go out per run (the rest on a later one, after those gone left).
-- Returns {{sha deleted, ...}, {sha, n, conv * n, sha, n, ...}}, or {}
-- when another worker holds the lease.
local now = tonumber(ARGV[1])
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then
  return {}
end
local gone, ask = {}, {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0,
                       tonumber(ARGV[2]))
for _, sha in ipairs(due) do
  -- the file's references: built on the declared key's tag
  local fk = string.sub(KEYS[1], 1, -6) .. 'file:' .. sha
  local alive, convs = 0, {}
  for _, o in ipairs(redis.call('SMEMBERS', fk)) do
    local p = string.match(o, '^p:(%d+)$')
    if p and tonumber(p) > now then
      alive = alive + 1
    elseif p then
      redis.call('SREM', fk, o)
    elseif #convs < 64 then
      convs[#convs + 1] = o
    else
      alive = alive + 1
    end
  end
  if alive == 0 and #convs == 0 then
    redis.call('DEL', fk)
    redis.call('ZREM', KEYS[1], sha)
    gone[#gone + 1] = sha
  else
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), sha)
    if #convs > 0 then
      ask[#ask + 1] = sha
      ask[#ask + 1] = #convs
      for _, c in ipairs(convs) do ask[#ask + 1] = c end
    end
  end
end
return {gone, ask}
