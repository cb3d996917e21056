-- toolgate: reviews (requests deferred for a human approval) and decision traces.
-- KEYS[1]: the index ({prefix}reviews, or {prefix}traces for trace commands); every other
-- key shares its hash tag, so one Cluster slot holds them all.
-- ARGV[1]: command; ARGV[2]: the prefix with its braces; ARGV[3]: now (ms); ARGV[4]: how
-- long a review is kept after its last activity (ms); then the command's arguments.
-- A review is a hash {prefix}review:ID (record, status, first, last, retries, binding,
-- approver, decided_at, reason, token, exp, claim_key, outcome, notified); the binding's
-- current review id is {prefix}review-binding:KEY; the index scores ids by last activity.
local cmd, p, now, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local index = KEYS[1]
local function rkey(id) return p .. 'review:' .. id end
local function bkey(k) return p .. 'review-binding:' .. k end

if cmd == 'touch' then
  local key, new_id, record = ARGV[5], ARGV[6], ARGV[7]
  local id = redis.call('GET', bkey(key))
  if id then
    local r = rkey(id)
    local status = redis.call('HGET', r, 'status')
    if status == 'pending' or status == 'rejected' then
      redis.call('HINCRBY', r, 'retries', 1)
      redis.call('HSET', r, 'last', now)
      redis.call('PEXPIRE', r, keep)
      redis.call('PEXPIRE', bkey(key), keep)
      redis.call('ZADD', index, now, id)
      if status == 'pending' then
        return {'pending', id, '0'}
      end
      return {'rejected', id, redis.call('HGET', r, 'approver') or '',
        redis.call('HGET', r, 'reason') or ''}
    elseif status == 'approved' then
      local exp = tonumber(redis.call('HGET', r, 'exp') or '0')
      local claim = redis.call('HGET', r, 'claim_key')
      local used = false
      if claim then
        used = tonumber(redis.call('GET', claim) or '0') > now
      end
      if exp * 1000 > now and not used then
        return {'approved', id, redis.call('HGET', r, 'token') or ''}
      end
    end
  end
  -- New, or the last one was used or expired: a fresh review for the reviewer.
  local r = rkey(new_id)
  redis.call('HSET', r, 'record', record, 'status', 'pending', 'first', now, 'last', now,
    'retries', 0, 'binding', key)
  redis.call('PEXPIRE', r, keep)
  redis.call('SET', bkey(key), new_id, 'PX', keep)
  redis.call('ZADD', index, now, new_id)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now - keep)
  return {'pending', new_id, '1'}
elseif cmd == 'list' then
  local ids = redis.call('ZREVRANGE', index, 0, tonumber(ARGV[5]) - 1)
  local out = {}
  for _, id in ipairs(ids) do
    local h = redis.call('HGETALL', rkey(id))
    if #h == 0 then
      redis.call('ZREM', index, id)
    else
      out[#out + 1] = id
      out[#out + 1] = h
    end
  end
  return out
elseif cmd == 'get' then
  local id = ARGV[5]
  local h = redis.call('HGETALL', rkey(id))
  if #h == 0 then return {} end
  return {id, h}
elseif cmd == 'decide' then
  local id, status, approver, reason, token, exp, claim =
    ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
  local r = rkey(id)
  local current = redis.call('HGET', r, 'status')
  if not current then return {'missing'} end
  if current ~= 'pending' then return {'not_pending', current} end
  redis.call('HSET', r, 'status', status, 'approver', approver, 'decided_at', now,
    'reason', reason, 'exp', exp)
  if status == 'approved' then
    redis.call('HSET', r, 'token', token, 'claim_key', claim)
  end
  redis.call('PEXPIRE', r, keep)
  local binding = redis.call('HGET', r, 'binding')
  if binding then redis.call('PEXPIRE', bkey(binding), keep) end
  redis.call('ZADD', index, now, id)
  return {'done'}
elseif cmd == 'outcome' then
  local r = rkey(ARGV[5])
  if redis.call('EXISTS', r) == 1 then
    redis.call('HSET', r, 'outcome', ARGV[6])
  end
  return 1
elseif cmd == 'settle' then
  -- The binding's request went through with an approval of its own: close its pending
  -- review, with no token to release anything again.
  local id = redis.call('GET', bkey(ARGV[5]))
  if not id then return 1 end
  local r = rkey(id)
  if redis.call('HGET', r, 'status') == 'pending' then
    redis.call('HSET', r, 'status', 'approved', 'approver', ARGV[6], 'decided_at', now,
      'reason', '', 'exp', 0, 'outcome', ARGV[7])
    redis.call('PEXPIRE', r, keep)
    redis.call('ZADD', index, now, id)
  end
  return 1
elseif cmd == 'notify' then
  local r = rkey(ARGV[5])
  if redis.call('EXISTS', r) == 0 then return 0 end
  return redis.call('HSETNX', r, 'notified', '1')
elseif cmd == 'trace_put' then
  local order = p .. 'traces-order'
  local cap = tonumber(ARGV[5])
  for i = 6, #ARGV, 2 do
    redis.call('HSET', index, ARGV[i], ARGV[i + 1])
    redis.call('ZADD', order, now, ARGV[i])
  end
  -- Trimmed in chunks: unpack() of more than a few thousand values fails (Lua's stack),
  -- and a failed script keeps what it wrote, so the hash would grow without bound.
  local excess = redis.call('ZCARD', order) - cap
  while excess > 0 do
    local n = math.min(excess, 1000)
    local old = redis.call('ZRANGE', order, 0, n - 1)
    redis.call('HDEL', index, unpack(old))
    redis.call('ZREMRANGEBYRANK', order, 0, n - 1)
    excess = excess - n
  end
  return 1
elseif cmd == 'trace_get' then
  return redis.call('HGET', index, ARGV[5])
end
return redis.error_reply('toolgate: unknown review command ' .. tostring(cmd))
