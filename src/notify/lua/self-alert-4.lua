--[[
  self-alert-4.lua: the one open self-alert of a failing receiver, shared by every replica's delivery workers
  (notify/self-alerts.ts): raised once (each other receiver is told once, however many jobs fail and however many
  workers see them fail), resolved once when the receiver takes a delivery again.

  KEYS[1]  the failing receiver's self-alert (hash) `<prefix>:{alerts}:self-alert|<receiver>`: field `record` (the
           first failure, JSON), `count` (failures since), `to|<receiver told>` = 1
  KEYS[2]  outbox stream `<prefix>:{alerts}:outbox`
  KEYS[3]  delivery records (hash) `<prefix>:{alerts}:delivery`
  KEYS[4]  the receivers with an open self-alert (set) `<prefix>:{alerts}:self-alerts`, for the recovery probe
  ARGV[1]  'raise' or 'recover'
  ARGV[2]  the failing receiver's name
  raise:   ARGV[3] the record JSON the jobs were built for; ARGV[4..] groups of four: receiver to tell, delivery
           field to mark pending ("" for none), the pending marker JSON, the `delivery_failed` job JSON
  recover: ARGV[3] the record JSON read ("" when the hash was empty); ARGV[4] the hash's field count read;
           ARGV[5..] `delivery_recovered` job JSONs

  Returns the number of jobs queued, or -1 when the hash changed since it was read (another worker raised or
  recovered it first): read again.
]]
if ARGV[1] == 'raise' then
  if redis.call('HSETNX', KEYS[1], 'record', ARGV[3]) == 0 and redis.call('HGET', KEYS[1], 'record') ~= ARGV[3] then
    return -1
  end
  redis.call('HINCRBY', KEYS[1], 'count', 1)
  redis.call('SADD', KEYS[4], ARGV[2])
  local queued = 0
  for i = 4, #ARGV, 4 do
    if redis.call('HSETNX', KEYS[1], 'to|' .. ARGV[i], 1) == 1 then
      if ARGV[i + 1] ~= '' then
        redis.call('HSETNX', KEYS[3], ARGV[i + 1], ARGV[i + 2])
      end
      redis.call('XADD', KEYS[2], '*', 'j', ARGV[i + 3])
      queued = queued + 1
    end
  end
  return queued
end
if (redis.call('HGET', KEYS[1], 'record') or '') ~= ARGV[3] or redis.call('HLEN', KEYS[1]) ~= tonumber(ARGV[4]) then
  return -1
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[4], ARGV[2])
for i = 5, #ARGV do
  redis.call('XADD', KEYS[2], '*', 'j', ARGV[i])
end
return #ARGV - 4
