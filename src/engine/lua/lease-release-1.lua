--[[
  lease-release-1.lua: give the leader lease up, only if it is still ours, so another
  replica takes over at its next try instead of waiting out the ttl. A lease that already expired and went to
  someone else is left alone (compare-and-delete in one atomic step).

  KEYS[1]  lease key `<prefix>:{alerts}:lease`
  ARGV[1]  the value we hold, "<token>:<owner>"

  Returns 1 released, 0 not ours (or already gone).
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
