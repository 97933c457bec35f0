-- The file's reference (its conversation, or "p:<until>" for one not yet
-- in a message), the sweep's schedule (ngx_kefu_upload_sweep.c) and the
-- visitor's count for this hour.
local site, sha = ARGV[1], ARGV[2]
redis.call('SADD', 'kefu:{s:' .. site .. '}:file:' .. sha, ARGV[3])
redis.call('ZADD', 'kefu:{s:' .. site .. '}:files', 'GT', ARGV[6], sha)
if ARGV[4] ~= '' then
  local q = 'kefu:{s:' .. site .. '}:v:' .. ARGV[4] .. ':uploads:' ..
            ARGV[5]
  redis.call('INCR', q)
  redis.call('EXPIRE', q, 7200)
end
return 0
