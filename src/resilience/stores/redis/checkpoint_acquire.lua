-- KEYS: lease, fence. ARGV: owner, ttl in ms, holder id (0 to 999999).
local holder = redis.call('HGET', KEYS[1], 'owner')
if holder and holder ~= ARGV[1] then
  return {0, holder, redis.call('PTTL', KEYS[1])}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = redis.call('INCR', KEYS[2])
if count < now then
  count = now
  redis.call('SET', KEYS[2], string.format('%d', count))
end
local token = string.format('%d%06d', count, tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, token}
