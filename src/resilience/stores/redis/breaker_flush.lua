-- ARGV[4..]: process, its run of failures, calls, failures, slow calls, why it tripped
-- here ('' if it did not), failure_threshold, failure_rate, slow_call_rate (0 = unset),
-- window kind ('n' calls, 't' seconds, '' none), window size, minimum_calls, open_for ms.
if state == 'closed' then
  local calls, fails, slow = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
  local kind, size = ARGV[13], tonumber(ARGV[14])
  redis.call('HSET', C, 'r:' .. ARGV[4], ARGV[5])
  if kind == 'n' and calls > 0 then
    calls = redis.call('HINCRBY', C, 'calls', calls)
    fails = redis.call('HINCRBY', C, 'failures', fails)
    slow = redis.call('HINCRBY', C, 'slow', slow)
    if calls > size then
      local k = size / calls
      calls, fails, slow = size, math.floor(fails * k + 0.5), math.floor(slow * k + 0.5)
      redis.call('HSET', C, 'calls', calls, 'failures', fails, 'slow', slow)
    end
  elseif kind == 't' and calls > 0 then
    local sec = math.floor(now / 1000)
    redis.call('HINCRBY', C, 'c:' .. sec, calls)
    redis.call('HINCRBY', C, 'f:' .. sec, fails)
    redis.call('HINCRBY', C, 's:' .. sec, slow)
  end
  local runs, totals = 0, {c = 0, f = 0, s = 0}
  local fields = redis.call('HGETALL', C)
  local oldest = math.floor(now / 1000) - size
  for i = 1, #fields, 2 do
    local field, value = fields[i], tonumber(fields[i + 1])
    if string.sub(field, 1, 2) == 'r:' then
      runs = runs + value
    elseif kind == 't' then
      local which, sec = string.match(field, '^([cfs]):(%d+)$')
      if which then
        if tonumber(sec) <= oldest then redis.call('HDEL', C, field)
        else totals[which] = totals[which] + value end
      end
    end
  end
  if kind == 't' then calls, fails, slow = totals.c, totals.f, totals.s end
  if kind == '' then calls = 0 end
  local threshold, rate, slow_rate = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
  local why = nil
  if ARGV[9] ~= '' then
    why = ARGV[9]
  elseif threshold > 0 and runs >= threshold then
    why = runs .. ' consecutive failures across the fleet'
  elseif calls > 0 and calls >= tonumber(ARGV[15]) then
    if rate > 0 and fails >= rate * calls then
      why = 'fleet failure rate ' .. math.floor(100 * fails / calls) .. '% over ' .. calls ..
            ' calls reached failure_rate=' .. ARGV[11]
    elseif slow_rate > 0 and slow >= slow_rate * calls then
      why = 'fleet slow call rate ' .. math.floor(100 * slow / calls) .. '% over ' .. calls ..
            ' calls reached slow_call_rate=' .. ARGV[12]
    end
  end
  if why then move('open', why, tonumber(ARGV[16])) end
end
touch()
return reply()
