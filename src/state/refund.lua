-- toolgate: undo an applied plan whose request certainly never reached the tool (the
-- upstream refused the connection). Same KEYS and ARGV as apply.lua.
local member = ARGV[2]
for i = 1, #KEYS do
  local at = 2 + (i - 1) * 4
  local kind, b = ARGV[at + 1], ARGV[at + 3]
  local key = KEYS[i]
  if kind == 'c' then
    redis.call('DEL', key)
  elseif kind == 'r' then
    redis.call('ZREM', key, member)
  elseif kind == 'n' then
    if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
  elseif kind == 'a' then
    local sum = tonumber(redis.call('GET', key) or '0')
    if sum > 0 then redis.call('DECRBY', key, math.min(sum, tonumber(b))) end
  end
end
return 0
