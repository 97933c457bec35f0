#!lua
-- lease release, by an exiting worker: ARGV = site, now, token, grace.
-- Its records go at once rather than when the lease would lapse.
--@include kefu_event
--@include route
--@include presence
r_init(ARGV[1], ARGV[2], '', ARGV[4], '0', '-')
p_purge(ARGV[3], p_now())
return 0
