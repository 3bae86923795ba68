-- KEYS: lease. ARGV: token, ttl in ms. An expired lease is gone: it cannot be renewed.
local current = redis.call('HMGET', KEYS[1], 'owner', 'token')
if current[2] ~= ARGV[1] then
  return {0, current[1], current[2]}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1}
