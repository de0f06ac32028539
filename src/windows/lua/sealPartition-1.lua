--[[
  sealPartition-1.lua: raise one partition's sealedUpTo, so that from now on
  applyBatch treats every write into a bucket starting before it as late. Runs in the partition's slot, so it is
  atomic with respect to that partition's batches: once it returns, the partition's hot buckets below the horizon
  never change again and compaction may read them. Monotonic and idempotent (several replicas may call it).

  KEYS[1]  meta hash of the (funnel, partition): `<prefix>:{<funnel>:<partition>}:m`
  ARGV[1]  sealing horizon (epoch ms, a multiple of bucketMs)
  ARGV[2]  TTL (ms) of the meta hash (applied only when this call creates it)

  Returns {sealedUpTo, firstBucket or -1, watermark or -1}; or {-2, message} for malformed arguments.
]]
local meta = KEYS[1]
local to = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
if not (to and ttl) then return {-2, 'sealing horizon and TTL must be numbers'} end
local existed = redis.call('EXISTS', meta) == 1
local s = tonumber(redis.call('HGET', meta, 's') or '')
if (not s) or to > s then
  s = to
  redis.call('HSET', meta, 's', string.format('%d', to))
end
-- A meta created here (partition registered but never applied, or expired) still needs a TTL; an existing one
-- keeps the TTL its batches give it, so sealing does not keep an abandoned partition alive.
if not existed then redis.call('PEXPIRE', meta, ARGV[2]) end
local fb = redis.call('HGET', meta, 'fb') or '-1'
local w = redis.call('HGET', meta, 'w') or '-1'
return {string.format('%d', s), fb, w}
