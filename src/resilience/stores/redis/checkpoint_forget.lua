-- KEYS: lease, checkpoints.
local holder = redis.call('HGET', KEYS[1], 'owner')
if holder then
  return {0, holder, redis.call('PTTL', KEYS[1])}
end
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind ~= 'hash' and kind ~= 'none' then
  return {-1, kind}
end
redis.call('DEL', KEYS[2])
return {1}
