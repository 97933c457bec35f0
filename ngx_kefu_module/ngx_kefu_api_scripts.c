
/*
 * The read-only Lua scripts of the HTTP API (docs/api.md).  Writes go
 * through the chat's own scripts (ngx_kefu_scripts.c), so a message or an
 * event from the API is stored exactly as one from a WebSocket.  Every
 * script checks that what it reads belongs to the site asked about, and
 * bounds its work: a page of a list never scans more than a fixed number
 * of entries.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"


/*
 * api_list: ARGV = site, state, agent, group (each "" for any), since
 * (ms, "" for any), cursor ("" or "<score>:<conv>"), limit.
 * The site's conversations, most recently changed first, from the index
 * kefu_event() keeps.  Returns {next cursor or "", then per conversation
 * conv, state, seq, agent, visitor, group, created, updated}; at most
 * 2000 index entries are looked at per call, so a sparse filter may give
 * a short page with a cursor to go on from.  The cursor is "" at the end
 * of the index (a full last page may still give one, then an empty page).
 */

ngx_kefu_script_t  ngx_kefu_script_api_list = { ngx_string(
"local site, state, agent, group = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
"local limit = tonumber(ARGV[7])\n"
"local key = 'kefu:{s:' .. site .. '}:convs'\n"
"local min = '-inf'\n"
"if ARGV[5] ~= '' then min = ARGV[5] end\n"
"local max, cs, cc = '+inf', nil, nil\n"
"if ARGV[6] ~= '' then\n"
"  cs, cc = string.match(ARGV[6], '^(%d+):(.+)$')\n"
"  max = cs\n"
"end\n"
"local out, n, off, scanned = {''}, 0, 0, 0\n"
"while scanned < 2000 do\n"
"  local r = redis.call('ZREVRANGEBYSCORE', key, max, min, 'WITHSCORES',\n"
"                       'LIMIT', off, 100)\n"
"  if #r == 0 then return out end\n"
"  for i = 1, #r, 2 do\n"
"    local c, s = r[i], r[i + 1]\n"
"    off = off + 1\n"
"    if not (cs and s == cs and c >= cc) then\n"
"      scanned = scanned + 1\n"
"      local h = redis.call('HMGET', 'kefu:{c:' .. c .. '}', 'site',\n"
"                           'state', 'seq', 'agent', 'visitor', 'group',\n"
"                           'created', 'updated')\n"
"      if h[1] == site and (state == '' or h[2] == state)\n"
"         and (agent == '' or h[4] == agent)\n"
"         and (group == '' or h[6] == group) then\n"
"        out[#out + 1] = c\n"
"        for k = 2, 8 do out[#out + 1] = h[k] or '' end\n"
"        n = n + 1\n"
"      end\n"
"      if n == limit or scanned == 2000 then\n"
"        if i + 2 <= #r or #r == 200 then out[1] = s .. ':' .. c end\n"
"        return out\n"
"      end\n"
"    end\n"
"  end\n"
"  if #r < 200 then return out end\n"
"end\n"
"return out\n"
), { 0 } };


/*
 * api_conv: ARGV = site, conv, reader? ("a:<id>" for an agent's token:
 * only a conversation in its list or that it joined).  {0} if there is no
 * such conversation of the site (or not the reader's), else {1, conv
 * hash, visitor hash, pages, assignments, joined}, the hashes as
 * field/value lists.
 */

ngx_kefu_script_t  ngx_kefu_script_api_conv = { ngx_string(
"local k = 'kefu:{c:' .. ARGV[2] .. '}'\n"
"local h = redis.call('HGETALL', k)\n"
"local f = {}\n"
"for i = 1, #h, 2 do f[h[i]] = h[i + 1] end\n"
"if f.site ~= ARGV[1] then return {0} end\n"
"if ARGV[3] and not redis.call('ZSCORE', 'kefu:{s:' .. ARGV[1] .. '}:' ..\n"
"                              ARGV[3] .. ':convs', ARGV[2])\n"
"   and redis.call('SISMEMBER', k .. ':joined', ARGV[3]) == 0 then\n"
"  return {0}\n"
"end\n"
"local vk = 'kefu:{s:' .. ARGV[1] .. '}:v:' .. (f.visitor or '')\n"
"return {1, h, redis.call('HGETALL', vk),\n"
"        redis.call('LRANGE', vk .. ':pages', 0, -1),\n"
"        redis.call('LRANGE', k .. ':assignments', 0, -1),\n"
"        redis.call('SMEMBERS', k .. ':joined')}\n"
), { 0 } };


/*
 * api_log: ARGV = site, conv, before (seq or ""), after (seq or ""),
 * limit, reader? (as api_conv's).  {0} if there is no such conversation
 * of the site (or not the reader's), else
 * {1, more, json, ...} oldest first: the entries after "after", or else
 * the latest ones before "before" (or the end).  Private notes and
 * agent-only events are included: the API sees everything.
 */

ngx_kefu_script_t  ngx_kefu_script_api_log = { ngx_string(
"local k = 'kefu:{c:' .. ARGV[2] .. '}'\n"
"if redis.call('HGET', k, 'site') ~= ARGV[1] then return {0} end\n"
"if ARGV[6] and not redis.call('ZSCORE', 'kefu:{s:' .. ARGV[1] .. '}:' ..\n"
"                              ARGV[6] .. ':convs', ARGV[2])\n"
"   and redis.call('SISMEMBER', k .. ':joined', ARGV[6]) == 0 then\n"
"  return {0}\n"
"end\n"
"local limit = tonumber(ARGV[5])\n"
"local es\n"
"if ARGV[4] ~= '' then\n"
"  es = redis.call('XRANGE', k .. ':log', (tonumber(ARGV[4]) + 1) .. '-1',\n"
"                  '+', 'COUNT', limit + 1)\n"
"else\n"
"  local top = '+'\n"
"  if ARGV[3] ~= '' then\n"
"    local b = tonumber(ARGV[3]) - 1\n"
"    if b < 1 then return {1, 0} end\n"
"    top = b .. '-1'\n"
"  end\n"
"  local r = redis.call('XREVRANGE', k .. ':log', top, '-', 'COUNT',\n"
"                       limit + 1)\n"
"  es = {}\n"
"  for i = #r, 1, -1 do es[#es + 1] = r[i] end\n"
"  if #es > limit then table.remove(es, 1) es.more = 1 end\n"
"end\n"
"local out = {1, 0}\n"
"if es.more or #es > limit then out[2] = 1 end\n"
"for i, e in ipairs(es) do\n"
"  if i > limit then break end\n"
"  for j = 1, #e[2], 2 do\n"
"    if e[2][j] == 'j' then out[#out + 1] = e[2][j + 1] end\n"
"  end\n"
"end\n"
"return out\n"
), { 0 } };


/*
 * api_agents: ARGV = site.  The site's agents (at most 1000, by id), each
 * {id, agent hash as field/value list}.
 */

ngx_kefu_script_t  ngx_kefu_script_api_agents = { ngx_string(
"local ids = redis.call('SMEMBERS', 'kefu:{s:' .. ARGV[1] .. '}:agents')\n"
"table.sort(ids)\n"
"local out = {}\n"
"for i, id in ipairs(ids) do\n"
"  if i > 1000 then break end\n"
"  out[#out + 1] = {id, redis.call('HGETALL', 'kefu:{s:' .. ARGV[1] ..\n"
"                                  '}:a:' .. id)}\n"
"end\n"
"return out\n"
), { 0 } };


/*
 * api_queue: ARGV = site, group, limit.  {length, then per queued
 * conversation conv, enqueued (ms), visitor, created}, oldest first.
 */

ngx_kefu_script_t  ngx_kefu_script_api_queue = { ngx_string(
"local q = 'kefu:{s:' .. ARGV[1] .. '}:q:' .. ARGV[2]\n"
"local out = {redis.call('ZCARD', q)}\n"
"local r = redis.call('ZRANGE', q, 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')\n"
"for i = 1, #r, 2 do\n"
"  local h = redis.call('HMGET', 'kefu:{c:' .. r[i] .. '}', 'visitor',\n"
"                       'created')\n"
"  out[#out + 1] = r[i]\n"
"  out[#out + 1] = r[i + 1]\n"
"  out[#out + 1] = h[1] or ''\n"
"  out[#out + 1] = h[2] or ''\n"
"end\n"
"return out\n"
), { 0 } };
