#!lua flags=no-writes
-- queue_item: KEYS = a queued conversation, its log.  ARGV = conv.  {state,
-- visitor ("" for none), offline ("1" opened while nobody could answer),
-- last (the preview of its latest message, "" for none), labels (a
-- rule's, JSON, "" for none)}, or {} when it is gone.
--@include kefu_event
--@include route
local h = redis.call('HMGET', KEYS[1], 'state', 'visitor', 'offline',
                     'labels')
if not h[1] then return {} end
return {h[1], h[2] or '', h[3] or '', r_preview(ARGV[1]) or '',
        h[4] or ''}
