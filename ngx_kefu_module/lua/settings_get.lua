#!lua flags=no-writes
-- settings_get: ARGV = site.  {doc or "", version}.
-- settings_put: ARGV = site, doc, ts, by.  Stores the document, bumps the
-- version, announces it and records settings.changed in the site's event
-- stream.  Returns the version.
local h = redis.call('HMGET', KEYS[1], 'doc', 'version')
return {h[1] or '', tonumber(h[2]) or 0}
