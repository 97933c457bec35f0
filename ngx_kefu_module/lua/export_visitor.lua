#!lua flags=no-writes
-- export_visitor: KEYS = the visitor's hash, page trail, conversations;
-- ARGV = how many conversations.  {hash, pages, convs with scores}.
return {redis.call('HGETALL', KEYS[1]),
        redis.call('LRANGE', KEYS[2], 0, -1),
        redis.call('ZREVRANGE', KEYS[3], 0, tonumber(ARGV[1]) - 1,
                   'WITHSCORES')}
