#!lua flags=no-writes
-- upload_check: a visitor's upload, in the site's slot.  KEYS = the
-- visitor's hash, its uploads of this hour.  ARGV = conv ("" for its open
-- one; one it named was checked by upload_owner.lua first), quota (0 for
-- none).  {0, conv}, or {-2, conv} over the quota.
local conv = ARGV[1]
if conv == '' then conv = redis.call('HGET', KEYS[1], 'open') or '' end
local q = tonumber(ARGV[2])
if q > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= q then
  return {-2, conv}
end
return {0, conv}
