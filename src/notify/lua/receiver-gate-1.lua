--[[
  receiver-gate-1.lua: one gate per receiver, shared by the delivery workers of every
  replica: a pause set when the receiver answered 429 with Retry-After (nobody calls it until then), and pacing (the
  next free slot, so PagerDuty's ~120 events a minute per routing key and Slack's one message a second per channel
  hold across replicas, not per process).

  KEYS[1]  gates (hash) `<prefix>:{alerts}:receiver-gates`: field `pause|<receiver>` and `next|<receiver>`, ms
  ARGV[1]  'take' (may a job be delivered now?) or 'pause' (the receiver asked us to wait)
  ARGV[2]  receiver name
  ARGV[3]  now (ms)
  ARGV[4]  take: the pacing interval (ms, 0 for none); pause: until when (ms)

  Returns {1, now} when the job may go now (its slot is taken), {0, when} when it must wait until `when`; for
  'pause', {1, until} with the later of the stored and the new pause.
]]
local pauseField = 'pause|' .. ARGV[2]
local nextField = 'next|' .. ARGV[2]
local now = tonumber(ARGV[3])
local paused = tonumber(redis.call('HGET', KEYS[1], pauseField) or '0')
if ARGV[1] == 'pause' then
  local untilMs = math.max(paused, tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], pauseField, untilMs)
  return {1, untilMs}
end
if paused > now then
  return {0, paused}
end
local interval = tonumber(ARGV[4])
if interval > 0 then
  local nextAt = tonumber(redis.call('HGET', KEYS[1], nextField) or '0')
  if nextAt > now then
    return {0, nextAt}
  end
  redis.call('HSET', KEYS[1], nextField, now + interval)
end
return {1, now}
