#!lua flags=no-writes
-- queue_entry: KEYS = the group's queue (the call's slot), the visitor's
-- hash and pages (if it has one).  ARGV = site, conv, group, position,
-- since, offline, last, visitor, bot ("1": a conversation of the group's
-- bot list, KEYS[1] kefu:{s:<site>}:b:<group>).  One conversation's entry
-- of the "queue" answer (r_qitem()'s fields: conv, group, position, since,
-- offline?, visitor, last; a bot one has state "bot" and no position), as
-- JSON.
--@include kefu_event
--@include route
r_init(ARGV[1], '0', '', '0', '0', '-')
local vid, last = ARGV[8], ARGV[7]
if vid == '' then vid = nil end
local bot = ARGV[9] == '1'
return r_json({conv = ARGV[2], group = ARGV[3],
               state = bot and 'bot' or nil,
               position = not bot and tonumber(ARGV[4]) or nil,
               since = math.floor(tonumber(ARGV[5]) or 0),
               offline = ARGV[6] == '1' or nil, visitor = r_visitor(vid),
               last = last})
