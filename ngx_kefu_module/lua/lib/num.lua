-- Numbers travel as decimal strings.  Lua's tostring() and ".." write
-- 1e+14 from 10^14 on, and cjson keeps 14 digits, so a seq or a bound
-- given by a client (up to 2^63 - 1) is never formatted by Lua: ARGV
-- bounds are stepped as strings (n_inc, n_dec), a seq counted by Redis
-- (HINCRBY, exact to 2^53) is written with n_str, and JSON that carries
-- one gets it spliced in (n_json).  A script uses it with
-- "--@include num".
-- NS: the decimal strings of 0 to 15, made once: a step writes small
-- counts and versions (a new conversation's seq and v, an agent's load),
-- and string.format() costs as much as a Redis command's argument
-- (issue 18: ten a new conversation).  Few: a script run by EVALSHA (a
-- Redis without functions) makes them at every call.
--@const
local NS = {[0] = '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10',
            '11', '12', '13', '14', '15'}
local function n_str(x)
  if type(x) == 'string' then return x end
  return NS[x] or string.format('%.0f', x)
end
-- NV: the numbers of those strings, for n_num(), tonumber() of a count or
-- version read from Redis (tonumber() of a string is strtod(): issue 18,
-- a dozen a new conversation's routing)
--@const
local NV = {['0'] = 0, ['1'] = 1, ['2'] = 2, ['3'] = 3, ['4'] = 4, ['5'] = 5,
            ['6'] = 6, ['7'] = 7, ['8'] = 8, ['9'] = 9, ['10'] = 10,
            ['11'] = 11, ['12'] = 12, ['13'] = 13, ['14'] = 14, ['15'] = 15}
local function n_num(s)
  return NV[s] or tonumber(s)
end
local function n_dec(s)
  -- s: decimal digits, > 0
  local i = #s
  while string.sub(s, i, i) == '0' do i = i - 1 end
  local r = string.sub(s, 1, i - 1) .. string.char(string.byte(s, i) - 1)
            .. string.rep('9', #s - i)
  return (string.gsub(r, '^0+(%d)', '%1'))
end
local function n_inc(s)
  local i = #s
  while i > 0 and string.sub(s, i, i) == '9' do i = i - 1 end
  if i == 0 then return '1' .. string.rep('0', #s) end
  -- no carry (nine in ten): no zeros to append (a call fewer; issue 18)
  if i == #s then
    return string.sub(s, 1, i - 1) .. string.char(string.byte(s, i) + 1)
  end
  return string.sub(s, 1, i - 1) .. string.char(string.byte(s, i) + 1)
         .. string.rep('0', #s - i)
end
local function n_json(t, seq, ts)
  -- cjson.encode(t) with "seq" and "ts" as exact integers
  local j = cjson.encode(t)
  local head = '{"seq":' .. n_str(seq)
  if ts then head = head .. ',"ts":' .. n_str(ts) end
  if j == '{}' then return head .. '}' end
  return head .. ',' .. string.sub(j, 2)
end
local function n_gt(a, b)
  -- a > b, both decimal digits without leading zeros
  return #a > #b or (#a == #b and a > b)
end
