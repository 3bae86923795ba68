-- ARGV[4..]: half_open_max_calls, half_open_timeout ms (0 = none), open_for ms,
-- open_for_max ms (0 = none). The reply gets a 6th item: 1 if a permit was granted.
local timeout = tonumber(ARGV[5])
if state == 'open' and now >= opened_at + period then
  move('half_open', 'open period elapsed; letting a trial call through', period)
elseif state == 'half_open' and timeout > 0 and now - since >= timeout then
  move('open', 'no trial call finished within half_open_timeout',
       reopen_period(tonumber(ARGV[6]), tonumber(ARGV[7])))
end
local granted = 0
if state == 'half_open' and permits < tonumber(ARGV[4]) then
  redis.call('HSET', S, 'permits', permits + 1)
  granted = 1
end
touch()
local r = reply()
r[6] = granted
return r
