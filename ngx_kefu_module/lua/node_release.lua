#!lua
-- node release: KEYS as node claim's, ARGV = token, node.  An exiting
-- worker's number is free.
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('HDEL', KEYS[2], ARGV[2])
end
return 0
