-- Take tokens from a GCRA rate limiter shared by a fleet (one call per request).
-- KEYS[1]: the limiter's key, holding its theoretical arrival time (TAT) in
--          microseconds of the server's clock; absent when its bucket is full.
-- ARGV: interval (us per token), capacity (burst x interval, us), tokens requested,
--       the longest wait allowed (us).
-- Reply: {1 if taken else 0, wait (us: before the tokens are there if taken, the
--        retry_after if not), the TAT after the request (us), the server's now (us)}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local start = tat
if start < now then start = now end
local new = start + n * interval
local wait = new - now - capacity
if wait > max_wait then
  return {0, wait, tat, now}
end
if wait < 0 then wait = 0 end
-- The key lives as long as its bucket is not full again: then it holds nothing.
local ttl = math.floor((new - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', ttl)
return {1, wait, new, now}
