-- toolgate: check every op of one request's plan, then apply all of them or none.
-- KEYS[i]: the op's key. ARGV[1]: now (ms, the sidecar's clock); ARGV[2]: this request's
-- member in sliding windows; then four arguments per op: kind, a, b, c.
--   c (claim an approval jti)  a = ttl ms
--   r (sliding-window rate)    a = limit, b = window ms
--   n (calls per run)          a = limit, b = ttl ms
--   a (amount per day)         a = limit, b = amount to add, c = ttl ms (thousandths)
-- Returns {} when every op was applied, else {op index (0-based), value, ...} for each
-- refused op and applies nothing.
local now = tonumber(ARGV[1])
local member = ARGV[2]
local refused = {}
for i = 1, #KEYS do
  local at = 2 + (i - 1) * 4
  local kind, a, b = ARGV[at + 1], tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  local key = KEYS[i]
  if kind == 'c' then
    -- Used until the instant stored (the sidecar's clock, like every other check here);
    -- the key's own expiry only collects it.
    local until_ms = tonumber(redis.call('GET', key) or '0')
    if until_ms > now then
      refused[#refused + 1] = i - 1
      refused[#refused + 1] = 0
    end
  elseif kind == 'r' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - b)
    local n = redis.call('ZCARD', key)
    if n >= a then
      local oldest = redis.call('ZRANGE', key, n - a, n - a, 'WITHSCORES')
      refused[#refused + 1] = i - 1
      refused[#refused + 1] = tonumber(oldest[2]) + b - now
    end
  elseif kind == 'n' then
    local n = tonumber(redis.call('GET', key) or '0')
    if n >= a then
      refused[#refused + 1] = i - 1
      refused[#refused + 1] = n
    end
  elseif kind == 'a' then
    local sum = tonumber(redis.call('GET', key) or '0')
    if sum + b > a then
      refused[#refused + 1] = i - 1
      refused[#refused + 1] = sum
    end
  else
    return redis.error_reply('toolgate: unknown op ' .. tostring(kind))
  end
end
if #refused > 0 then
  return refused
end
for i = 1, #KEYS do
  local at = 2 + (i - 1) * 4
  local kind, a, b, c = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  local key = KEYS[i]
  if kind == 'c' then
    redis.call('SET', key, now + tonumber(a), 'PX', a)
  elseif kind == 'r' then
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, b)
  elseif kind == 'n' then
    redis.call('INCR', key)
    redis.call('PEXPIRE', key, b)
  else
    redis.call('INCRBY', key, b)
    redis.call('PEXPIRE', key, c)
  end
end
return {}
