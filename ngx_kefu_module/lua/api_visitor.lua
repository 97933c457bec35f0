#!lua flags=no-writes
-- api_visitor: KEYS = a visitor's hash (kefu:{s:<site>}:v:<id>), its
-- page trail.  {hash as a field/value list, pages oldest first}.
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}
