--[[
  applyBatch-1.lua: commit one batch of ONE (funnel, partition), atomically with the
  batch's offset, so a redelivered batch can never be counted twice. The daemon computed the batch (apply-plan.ts:
  the cohort/entity state machine, aggregated counter deltas, new entity states, watermark) from the partition's
  meta and entity states it read in one round trip; this script writes that result ONLY IF the meta's offset `o`
  and sealedUpTo `s` are still exactly what was read. The offset changes with every applied batch and nothing but
  applyBatch writes entity states, so an unchanged offset means the states the plan started from are current
  (optimistic concurrency); a changed `s` (compaction sealed meanwhile) could change which events are late. It
  writes the partition's HOT fine buckets only; compaction (compact-1.lua) moves sealed buckets into history.

  KEYS[1]  meta hash of the (funnel, partition): `<prefix>:{<funnel>:<partition>}:m`. Every other key is built
           from KEYS[1] minus its final "m", so all share its hash tag and live in its cluster slot. They cannot be
           listed in KEYS up front: which shards are deleted depends on stored state (`lo`).
  ARGV[1]  ONE JSON array holding the arguments below (strings and integers), decoded here with cjson: a batch
           has tens of thousands of them, and the client's per-argument encoding cost more CPU than the rest of the
           commit (V3 took them as separate arguments). Below, ARGV[i] means the i-th element of that array.
  ARGV[1]  firstOffset         ARGV[2]  lastOffset (stored as given)
  ARGV[3]  the meta's `o` the plan was computed from, '' when absent
  ARGV[4]  the meta's `s` the plan was computed from, '' when absent
  ARGV[5]  seal floor: the funnel's sealing horizon read when this partition registered, or '' (a partition that
           joins after a compaction read the partition list must not write into buckets already compacted); the
           plan already treated max(s, seal floor) as sealed
  ARGV[6]  watermark after the batch, '' when none
  ARGV[7]  conversionWindowMs  ARGV[8]  allowedLatenessMs
  ARGV[9]  backstop TTL (ms) of entity shards; they are normally deleted as the watermark passes them
  ARGV[10] TTL (ms) of the meta hash
  ARGV[11] oldest hot bucket start the batch counted into, '' when none
  ARGV[12..19] counter deltas: late, unm (events not matching any step), noent (matched without entity), dup, ooo,
           noentry, exp, latecoh
  ARGV[20] nKeys: bucket hashes     ARGV[21] nShards: entity shards written
  then nKeys times:   key suffix after the tag (`f:<sec>:<group>`), PEXPIRE ms, nFields, nFields × (field, delta)
  then nShards times: shard k, nEntities, nEntities × (entity, state "entryOffset:lastDelta:stepMask:dimCodes")

  Returns
    {-1, storedOffset}              duplicate: firstOffset <= stored offset; nothing was changed
    {-2, message}                   malformed arguments; nothing was changed
    {-3, storedOffset, sealedUpTo}  conflict: `o` or `s` changed since the read ('' when absent); nothing was
                                    changed, the caller reads again and recomputes
    {1}                             applied
]]
local okDecode, packed = pcall(cjson.decode, ARGV[1] or '')
if not okDecode or type(packed) ~= 'table' then return {-2, 'ARGV[1] is not a JSON array'} end
-- Integers arrive as Lua numbers: back to the decimal strings a separate argument would have been (%d keeps every
-- digit; tostring would switch to exponent notation past 14 digits).
for j = 1, #packed do
  local v = packed[j]
  if type(v) == 'number' then packed[j] = string.format('%d', v)
  elseif type(v) ~= 'string' then return {-2, 'argument ' .. j .. ' is neither a string nor a number'} end
end
local ARGV = packed

local meta = KEYS[1]
local base = string.sub(meta, 1, -2)
local first = tonumber(ARGV[1])
if not first then return {-2, 'firstOffset is not a number'} end
local stored = redis.call('HGET', meta, 'o')
if stored and tonumber(stored) >= first then
  return {-1, stored}
end
local sealedRaw = redis.call('HGET', meta, 's')
if (stored or '') ~= ARGV[3] or (sealedRaw or '') ~= ARGV[4] then
  return {-3, stored or '', sealedRaw or ''}
end

local sealFloor = tonumber(ARGV[5])
local wm = tonumber(ARGV[6])
local W = tonumber(ARGV[7])
local L = tonumber(ARGV[8])
local shardTtl = ARGV[9]
local metaTtl = ARGV[10]
local minBucket = tonumber(ARGV[11])
local nKeys = tonumber(ARGV[20])
local nShards = tonumber(ARGV[21])
if not (W and L and tonumber(shardTtl) and tonumber(metaTtl) and nKeys and nShards) then
  return {-2, 'a number is missing'}
end
for j = 12, 19 do
  if not tonumber(ARGV[j]) then return {-2, 'a counter delta is not a number'} end
end
-- Walk the layout once before writing anything, so malformed arguments change nothing.
local n = #ARGV
local i = 22
for _ = 1, nKeys do
  local c = tonumber(ARGV[i + 2])
  if not c then return {-2, 'bucket field count is not a number'} end
  i = i + 3 + 2 * c
end
for _ = 1, nShards do
  local c = tonumber(ARGV[i + 1])
  if not c then return {-2, 'shard entity count is not a number'} end
  i = i + 2 + 2 * c
end
if i ~= n + 1 then return {-2, 'argument count does not match the counts it declares'} end

local function fmt(x) return string.format('%d', x) end

-- Buckets starting before `s` are being (or have been) compacted into history: nothing may change them.
local sealed = tonumber(sealedRaw or '')
if sealFloor and ((not sealed) or sealFloor > sealed) then
  redis.call('HSET', meta, 's', ARGV[5])
end

-- Counters: one HINCRBY per distinct field, TTL per key (from the watermark, computed by the caller).
i = 22
for _ = 1, nKeys do
  local key = base .. ARGV[i]
  local ttl = ARGV[i + 1]
  local c = tonumber(ARGV[i + 2])
  local j = i + 3
  for _ = 1, c do
    redis.call('HINCRBY', key, ARGV[j], ARGV[j + 1])
    j = j + 2
  end
  redis.call('PEXPIRE', key, ttl)
  i = j
end

-- Entity states: one HSET per shard (chunked: unpack has a stack limit).
for _ = 1, nShards do
  local key = base .. 'e:' .. ARGV[i]
  local c = tonumber(ARGV[i + 1])
  local from = i + 2
  local to = from + 2 * c - 1
  while from <= to do
    local last = math.min(to, from + 3999)
    redis.call('HSET', key, unpack(ARGV, from, last))
    from = last + 1
  end
  redis.call('PEXPIRE', key, shardTtl)
  i = to + 1
end

-- Shards no non-late event can look up any more (their newest lookup would need ts < watermark - lateness).
if wm then
  local minLive = math.floor((wm - L) / W) - 3
  local lo = tonumber(redis.call('HGET', meta, 'lo') or '')
  if lo then
    local from = lo
    if minLive - from > 64 then from = minLive - 64 end
    for k = from, minLive - 1 do redis.call('DEL', base .. 'e:' .. fmt(k)) end
  end
  if (not lo) or minLive > lo then redis.call('HSET', meta, 'lo', fmt(minLive)) end
  redis.call('HSET', meta, 'w', ARGV[6])
end
-- Where the first compaction starts: the oldest hot bucket this partition ever wrote.
if minBucket then
  local fb = tonumber(redis.call('HGET', meta, 'fb') or '')
  if (not fb) or minBucket < fb then redis.call('HSET', meta, 'fb', ARGV[11]) end
end

redis.call('HSET', meta, 'o', ARGV[2])
local names = {'late', 'unm', 'noent', 'dup', 'ooo', 'noentry', 'exp', 'latecoh'}
for j = 1, 8 do
  if tonumber(ARGV[11 + j]) > 0 then redis.call('HINCRBY', meta, names[j], ARGV[11 + j]) end
end
redis.call('PEXPIRE', meta, metaTtl)
return {1}
