#!lua
-- settings_get: ARGV = site.  {doc or "", version}.
-- settings_put: ARGV = site, doc, ts, by.  Stores the document, bumps the
-- version, announces it and records settings.changed in the site's event
-- stream.  Returns the version.
--@include kefu_event
local k = KEYS[1]
K.events = KEYS[2]
local v = redis.call('HINCRBY', k, 'version', 1)
redis.call('HSET', k, 'doc', ARGV[2], 'updated', ARGV[3], 'by', ARGV[4])
redis.call('PUBLISH', 'kefu:{s:' .. ARGV[1] .. '}:settings',
           ARGV[1] .. ' ' .. v)
kefu_event(ARGV[1], 'settings.changed', '', '', ARGV[3],
           cjson.encode({version = v, by = ARGV[4]}))
return v
