-- A conversation's log entry seq-1: a message's (lib/msg.lua) and a
-- routing step's system entry (lib/apply.lua), l_add(key, seq, max,
-- field, value, ...).  The log holds at most seq entries (one a seq), so
-- it is trimmed to about max (MAXLEN ~, kefu_log_retention) only once
-- seq is past max: before, the trim had nothing to take and cost its
-- arguments (issue 18).
--@include num
local function l_add(key, seq, max, ...)
  if n_gt(seq, max) then
    return redis.call('XADD', key, 'MAXLEN', '~', max, seq .. '-1', ...)
  end
  return redis.call('XADD', key, seq .. '-1', ...)
end
