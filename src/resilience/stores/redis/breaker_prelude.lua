-- Every breaker script starts here. KEYS: state, counts. ARGV: channel, name, ttl in ms,
-- then the script's own. reply() is what each returns: state, gen, ms left open, period,
-- reason.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local S, C = KEYS[1], KEYS[2]
local h = redis.call('HMGET', S, 'state', 'gen', 'opened_at', 'period', 'reason', 'since',
                     'permits', 'ok')
local state, gen = h[1] or 'closed', tonumber(h[2] or '0')
local opened_at, period = tonumber(h[3] or '0'), tonumber(h[4] or '0')
local reason, since = h[5] or '', tonumber(h[6] or '0')
local permits, ok = tonumber(h[7] or '0'), tonumber(h[8] or '0')
local function reply()
  local left = 0
  if state == 'open' then left = math.max(0, opened_at + period - now) end
  return {state, gen, left, period, reason}
end
local function move(new, why, new_period)
  gen = math.max(gen + 1, now)
  state, reason, permits, ok = new, why, 0, 0
  if new == 'open' then opened_at, period = now, new_period end
  if new == 'half_open' then since = now end
  redis.call('HSET', S, 'state', state, 'gen', gen, 'opened_at', opened_at, 'period', period,
             'reason', reason, 'since', since, 'permits', 0, 'ok', 0)
  redis.call('DEL', C)
  local r = reply()
  redis.call('PUBLISH', ARGV[1], cjson.encode({name = ARGV[2], state = r[1],
    gen = tostring(r[2]), left = r[3], period = r[4], reason = r[5]}))
end
local function reopen_period(open_for, open_for_max)
  if open_for_max > 0 and period > 0 then return math.min(period * 2, open_for_max) end
  return open_for
end
local function touch()
  redis.call('PEXPIRE', S, ARGV[3])
  redis.call('PEXPIRE', C, ARGV[3])
end
