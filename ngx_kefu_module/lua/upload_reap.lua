#!lua
-- upload reap: KEYS = the site's files, a file's references
-- (file:<sha>).  ARGV = sha, conversations of it whose hash is gone (the
-- sweep asked each one's slot).  They leave its references; with none
-- left, the file's set and entry go and the sha is returned for the
-- worker to delete the file, else "".  A reference added meanwhile (a new
-- message, an upload) keeps it.
for i = 2, #ARGV do redis.call('SREM', KEYS[2], ARGV[i]) end
if redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[1])
  return ARGV[1]
end
return ''
