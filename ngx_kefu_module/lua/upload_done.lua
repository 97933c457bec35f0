#!lua
-- upload_done: KEYS = the file's references, the site's files, the
-- visitor's uploads of the hour (a visitor's only).  ARGV = site, sha,
-- owner, visitor ("" for none), hour, due (ms).
-- The file's reference (its conversation, or "p:<until>" for one not yet
-- in a message), the sweep's schedule (ngx_kefu_upload_sweep.c) and the
-- visitor's count for this hour.
local site, sha = ARGV[1], ARGV[2]
redis.call('SADD', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], 'GT', ARGV[6], sha)
if ARGV[4] ~= '' then
  local q = KEYS[3]
  redis.call('INCR', q)
  redis.call('EXPIRE', q, 7200)
end
return 0
