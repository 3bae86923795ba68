-- KEYS: lease, checkpoints. ARGV: token, ttl in ms, then field, value, field, value...
-- HSET takes the pairs 500 at a time: unpack() of the whole batch could overflow Lua's stack.
local current = redis.call('HMGET', KEYS[1], 'owner', 'token')
if current[2] ~= ARGV[1] then
  return {0, current[1], current[2]}
end
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind ~= 'hash' and kind ~= 'none' then
  return {-1, kind}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
for i = 3, #ARGV, 1000 do
  redis.call('HSET', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return {1}
