--[[
  compact-1.lua: move the sums of a contiguous run of SEALED fine buckets
  [from, to) into the funnel's history, exactly once: write them as history fine buckets, add them into the
  history rollup buckets, and advance compactedUpTo, all in one atomic step in the funnel's slot.

  The caller summed the partitions' hot buckets after every partition was sealed past `to` (they can no longer
  change). Exactly once: the call is applied only if `from` equals the stored compactedUpTo (or none is stored
  yet), so a retry, a second replica doing the same work concurrently, or a stale caller is refused and adds
  nothing; buckets are compacted contiguously and in order.

  KEYS[1]  compaction meta `<prefix>:{<funnel>}:c`: s sealing horizon, c compactedUpTo. History keys are built
           from KEYS[1] minus its final "c" (same hash tag, same slot).
  ARGV[1]  from (epoch ms, a multiple of bucketMs)      ARGV[2]  to (exclusive, a multiple of bucketMs)
  ARGV[3]  bucketMs            ARGV[4]  rollupBucketMs
  ARGV[5]  fineMs (retention)  ARGV[6]  rollupMs (retention)
  ARGV[7]  reference event time: TTLs run from it (the funnel's newest watermark), as hot TTLs run from theirs
  ARGV[8]  TTL (ms) of the compaction meta
  ARGV[9..] records, one per non-empty (bucket, group): bucketStartMs, group, nFields, then nFields pairs
           field, count

  Returns
    {1, to}                    applied; compactedUpTo is now `to`
    {-1, compactedUpTo}        refused: `from` is not the stored compactedUpTo (already done, or a gap)
    {-2, message}              malformed arguments, or `to` beyond the sealing horizon; nothing changed
]]
local cmeta = KEYS[1]
local base = string.sub(cmeta, 1, -2)
local from = tonumber(ARGV[1])
local to = tonumber(ARGV[2])
local bucketMs = tonumber(ARGV[3])
local rollMs = tonumber(ARGV[4])
local fineKeep = tonumber(ARGV[5])
local rollKeep = tonumber(ARGV[6])
local ref = tonumber(ARGV[7])
if not (from and to and bucketMs and rollMs and fineKeep and rollKeep and ref and tonumber(ARGV[8])) or to <= from then
  return {-2, 'from < to, bucket sizes, retention, reference time and TTL must be numbers'}
end

local stored = redis.call('HGET', cmeta, 'c')
if stored and tonumber(stored) ~= from then
  return {-1, stored}
end
local sealed = tonumber(redis.call('HGET', cmeta, 's') or '')
if (not sealed) or to > sealed then
  return {-2, 'range ends beyond the sealing horizon ' .. tostring(sealed)}
end

local function fmt(n) return string.format('%d', n) end

-- Parse everything first, so a malformed record changes nothing.
local fine, rolls, rollEnd, rollOrder = {}, {}, {}, {}
local i = 9
while i <= #ARGV do
  local start = tonumber(ARGV[i])
  local group = ARGV[i + 1]
  local n = tonumber(ARGV[i + 2])
  if not (start and n) or start < from or start >= to or i + 2 + 2 * n > #ARGV then
    return {-2, 'bad record at argument ' .. i}
  end
  local fargs = {}
  local rs = math.floor(start / rollMs) * rollMs
  local rkey = base .. 'r:' .. fmt(rs / 1000) .. ':' .. group
  local racc = rolls[rkey]
  if not racc then
    racc = {}
    rolls[rkey] = racc
    rollEnd[rkey] = rs + rollMs
    rollOrder[#rollOrder + 1] = rkey
  end
  for j = i + 3, i + 2 + 2 * n, 2 do
    local f, c = ARGV[j], tonumber(ARGV[j + 1])
    if not c then return {-2, 'bad count at argument ' .. (j + 1)} end
    fargs[#fargs + 1] = f
    fargs[#fargs + 1] = ARGV[j + 1]
    racc[f] = (racc[f] or 0) + c
  end
  fine[#fine + 1] = { key = base .. 'f:' .. fmt(start / 1000) .. ':' .. group, fend = start + bucketMs, args = fargs }
  i = i + 3 + 2 * n
end

-- History fine buckets: written once (HSET of the sums); a bucket already past its retention is not written.
for _, b in ipairs(fine) do
  local ttl = b.fend + fineKeep - ref
  if ttl > 0 and #b.args > 0 then
    for k = 1, #b.args, 2000 do
      redis.call('HSET', b.key, unpack(b.args, k, math.min(k + 1999, #b.args)))
    end
    redis.call('PEXPIRE', b.key, fmt(ttl))
  end
end
-- Rollups accumulate fine buckets as compaction passes through them.
for _, key in ipairs(rollOrder) do
  local ttl = rollEnd[key] + rollKeep - ref
  if ttl > 0 then
    for f, c in pairs(rolls[key]) do redis.call('HINCRBY', key, f, c) end
    redis.call('PEXPIRE', key, fmt(ttl))
  end
end

redis.call('HSET', cmeta, 'c', fmt(to))
redis.call('PEXPIRE', cmeta, ARGV[8])
return {1, fmt(to)}
