#!lua
-- retain heal, the site's side: KEYS = a conversation's routing record
-- (kefu:{s:<site>}:r:<conv>), then its visitor's record, index and page
-- trail (none for a conversation without a visitor).  ARGV = seconds
-- the conversation has left (retain_heal.lua's), the site's retention
-- (seconds).  For each closed conversation the sweep found past the
-- retention, before retain_heal.lua gives its keys an expiry when they
-- have none (so that a turn cut short between the two finds it again):
-- what 0.1.0 wrote, or a routing step made of it since (r_rec() copies a
-- conversation's expiry, and 0.1.0's had none), in the site's slot.  The
-- routing record goes with the conversation; a visitor's record without
-- an expiry is kept from now as its conversation's close would keep it
-- (k_visitor(): its ttl, the retention if it has none; 0.1.0 wrote no
-- ttl).  One that expires already is this version's: left alone.
--@include retain
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
if KEYS[2] and redis.call('PTTL', KEYS[2]) == -1 then
  k_visitor(KEYS[2], ARGV[2])
end
return 1
