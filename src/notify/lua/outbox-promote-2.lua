--[[
  outbox-promote-2.lua: move jobs whose retry time has come from the delayed set back
  into the outbox stream, atomically (a job is in exactly one of the two at any time, so none is lost or doubled
  however many replicas promote at once).

  KEYS[1]  outbox stream `<prefix>:{alerts}:outbox`
  KEYS[2]  delayed jobs (sorted set, score = when to retry, ms) `<prefix>:{alerts}:outbox-delayed`
  ARGV[1]  now (ms)
  ARGV[2]  the most jobs to move in one call

  Returns the number of jobs moved.
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'j', job)
  redis.call('ZREM', KEYS[2], job)
end
return #due
