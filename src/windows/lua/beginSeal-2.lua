--[[
  beginSeal-2.lua: first step of a compaction, in the funnel's slot: raise the
  funnel's sealing horizon and, in the same atomic step, read the partition list to seal.

  Why both at once: a partition that registers (SADD to the list, then reads the horizon, both in this slot) either
  registered before this call, and is in the returned list, so the compactor seals it; or after, and then it reads
  this horizon and passes it to its first applyBatch as the seal floor. Either way no partition can write into a
  bucket below the horizon once compaction starts reading.

  KEYS[1]  compaction meta `<prefix>:{<funnel>}:c`: s sealing horizon, c compactedUpTo
  KEYS[2]  partition set `<prefix>:{<funnel>}:parts`
  ARGV[1]  wanted sealing horizon (epoch ms, a multiple of bucketMs)
  ARGV[2]  TTL (ms) of the compaction meta

  Returns {horizon, compactedUpTo or '', partition...}: the horizon is max(stored, wanted), never lower;
  or {-2, message} for malformed arguments.
]]
local to = tonumber(ARGV[1])
if not (to and tonumber(ARGV[2])) then return {-2, 'sealing horizon and TTL must be numbers'} end
local s = tonumber(redis.call('HGET', KEYS[1], 's') or '')
if (not s) or to > s then
  s = to
  redis.call('HSET', KEYS[1], 's', string.format('%d', to))
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local out = {string.format('%d', s), redis.call('HGET', KEYS[1], 'c') or ''}
for _, p in ipairs(redis.call('SMEMBERS', KEYS[2])) do out[#out + 1] = p end
return out
