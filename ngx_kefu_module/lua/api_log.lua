#!lua flags=no-writes
-- api_log: KEYS = the conversation, its log, its joined set.  ARGV = site,
-- conv, before (seq or ""), after (seq or ""), limit, reader? ("a:<id>"
-- for an agent's token: only its conversation, open or closed by it, or
-- one it joined).  {0} if there is no such conversation of the site (or
-- not the reader's), else
-- {1, more, json, ...} oldest first: the entries after "after", or else
-- the latest ones before "before" (or the end).  Private notes and
-- agent-only events are included: the API sees everything.
--@include num
local k = KEYS[1]
if redis.call('HGET', k, 'site') ~= ARGV[1] then return {0} end
-- an agent reads what it reads over WebSocket: the conversation keeps
-- "agent" when closed, and loses it when handed over or requeued
if ARGV[6] and 'a:' .. (redis.call('HGET', k, 'agent') or '') ~= ARGV[6]
   and redis.call('SISMEMBER', KEYS[3], ARGV[6]) == 0 then
  return {0}
end
local limit = tonumber(ARGV[5])
local es
if ARGV[4] ~= '' then
  es = redis.call('XRANGE', KEYS[2], n_inc(ARGV[4]) .. '-1',
                  '+', 'COUNT', limit + 1)
else
  local top = '+'
  if ARGV[3] ~= '' then
    local b = n_dec(ARGV[3])
    if b == '0' then return {1, 0} end
    top = b .. '-1'
  end
  local r = redis.call('XREVRANGE', KEYS[2], top, '-', 'COUNT',
                       limit + 1)
  es = {}
  for i = #r, 1, -1 do es[#es + 1] = r[i] end
  if #es > limit then table.remove(es, 1) es.more = 1 end
end
local out = {1, 0}
if es.more or #es > limit then out[2] = 1 end
for i, e in ipairs(es) do
  if i > limit then break end
  for j = 1, #e[2], 2 do
    if e[2][j] == 'j' then out[#out + 1] = e[2][j + 1] end
  end
end
return out
