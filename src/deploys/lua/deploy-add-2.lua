--[[
  deploy-add-2.lua: store one deploy marker, once, and trim the expired ones, atomically.

  Why one script: the same marker arrives twice in normal operation (an HTTP retry from CI, a Kafka redelivery);
  checking for it and storing it in one step means two replicas receiving it at once still store it once, and the
  answer says which of them stored it. Trimming here keeps retention without a separate job.

  KEYS[1]  by-time sorted set `<prefix>:{deploys}:by-time` (member id, score ts)
  KEYS[2]  data hash `<prefix>:{deploys}:data` (id → Deploy JSON)
  ARGV[1]  id
  ARGV[2]  ts (ms)
  ARGV[3]  Deploy JSON
  ARGV[4]  cutoff (ms): markers before it are removed
  ARGV[5]  most markers removed by this call

  Returns {1, json} stored; {0, stored json} the id was already there; {-1, ''} the marker is older than the cutoff.
]]
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))
if #old > 0 then
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[2], unpack(old))
end
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then return {0, existing} end
if tonumber(ARGV[2]) < tonumber(ARGV[4]) then return {-1, ''} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return {1, ARGV[3]}
