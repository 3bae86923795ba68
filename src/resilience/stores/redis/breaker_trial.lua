-- ARGV[4..]: the generation the permit was granted in, 'ok' / 'fail' / 'release', why,
-- success_threshold, open_for ms, open_for_max ms.
if state == 'half_open' and tostring(gen) == ARGV[4] then
  permits = math.max(0, permits - 1)
  if ARGV[5] == 'fail' then
    move('open', ARGV[6], reopen_period(tonumber(ARGV[8]), tonumber(ARGV[9])))
  elseif ARGV[5] == 'ok' and ok + 1 >= tonumber(ARGV[7]) then
    move('closed', (ok + 1) .. ' trial calls succeeded across the fleet', 0)
  else
    if ARGV[5] == 'ok' then ok = ok + 1 end
    redis.call('HSET', S, 'permits', permits, 'ok', ok)
  end
end
touch()
return reply()
