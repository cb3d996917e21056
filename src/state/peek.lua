-- toolgate: read what a plan's ops have counted, changing nothing (GET /usage).
-- Same KEYS and ARGV as apply.lua; returns one number per op: a sliding window's entries
-- in the window, a count, or a sum.
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local at = 2 + (i - 1) * 4
  local kind, b = ARGV[at + 1], tonumber(ARGV[at + 3])
  if kind == 'r' then
    out[i] = redis.call('ZCOUNT', KEYS[i], '(' .. (now - b), '+inf')
  elseif kind == 'c' then
    out[i] = redis.call('EXISTS', KEYS[i])
  else
    out[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
end
return out
