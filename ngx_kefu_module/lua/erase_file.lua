#!lua
-- erase_file: KEYS = a file's references, the site's files; ARGV = conv,
-- sha.  The conversation's reference goes; 1 if no other conversation
-- refers to the file (it may go from disk), else 0.  An upload's "p:<ms>"
-- marker does not keep it: the marker does not say whose upload it was,
-- and the erased visitor's own upload is one.
redis.call('SREM', KEYS[1], ARGV[1])
for _, o in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not string.match(o, '^p:') then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
