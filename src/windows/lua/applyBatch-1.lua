--[[
  applyBatch-1.lua (command fwWindowsApplyBatchV2): apply one batch of matched funnel events for ONE (funnel,
  partition), atomically with the batch's offset, so a redelivered batch can never be counted twice. It writes the
  partition's HOT fine buckets only; compaction (compact-1.lua) moves sealed buckets into funnel-level history and
  writes the rollups there.

  KEYS[1]  meta hash of the (funnel, partition): `<prefix>:{<funnel>:<partition>}:m`. Every other key is built
           from KEYS[1] minus its final "m", so all share its hash tag and live in its cluster slot. They cannot be
           listed in KEYS up front: which bucket and entity-shard keys a batch touches depends on stored state.
  ARGV[1]  firstOffset         ARGV[2]  lastOffset (stored as given)
  ARGV[3]  bucketMs            ARGV[4]  hotKeepMs: TTL of hot buckets past their end, from the watermark
  ARGV[5]  conversionWindowMs  ARGV[6]  allowedLatenessMs
  ARGV[7]  ln(gamma) of the duration histogram (histogram.ts)
  ARGV[8]  nDims
  ARGV[9]  backstop TTL (ms) of entity shards; they are normally deleted as the watermark passes them
  ARGV[10] events not matching any step   ARGV[11] matched events without entity (both counted outside, stored
           here so they are exactly-once too)
  ARGV[12] TTL (ms) of the meta hash
  ARGV[13] seal floor: the funnel's sealing horizon read when this partition registered, or '' (a partition that
           joins after a compaction read the partition list must not write into buckets already compacted)
  ARGV[14..] events in partition order, 3 + nDims values each: step, ts, entity, dim code 1..nDims

  Returns
    {-1, storedOffset}   duplicate: firstOffset <= stored offset; nothing was changed
    {-2, message}        malformed arguments; nothing was changed
    {1, late, entries, steps, duplicates, outOfOrder, noEntry, expired, watermark(-1 when none), lateCohort}

  Semantics per event (key-layout.ts and window-store.ts document them for readers of the counts):
    late:   ts < watermark - allowedLateness, or ts in a sealed bucket (ts < sealedUpTo) → counted, not applied,
            nothing changes (not even the watermark). Otherwise the watermark moves to max(ts).
    entry:  no state, or state older than the conversion window → new state, volume[0]+1; else duplicate.
    step s: no state → no-entry (volume only); s already reached → duplicate; beyond the window → expired
            (volume only); a later step already reached → out of order (volume + cohort, no duration);
            otherwise volume + cohort at the ENTRY bucket with the ENTRY dimensions + duration since last step.
            A cohort increment whose entry bucket is sealed is not applied but counted (lateCohort, a subset of
            steps): the step itself (volume, duration, state) lives in the event's own, open bucket.
  Field codes (key-layout.ts): group t kind*100+step; group d<i> volume step*128+code, cohort 2048+step*128+code;
  group h<s> duration bucket index.
  Entity state lives in shard floor(entryTs / W) as "entryOffset:lastDelta:stepMask:dimCodes"; a lookup for an
  event at ts checks shards floor(ts/W)+1 down to floor(ts/W)-2, newest first.
]]
local meta = KEYS[1]
local base = string.sub(meta, 1, -2)
local first = tonumber(ARGV[1])
local stored = redis.call('HGET', meta, 'o')
if stored and tonumber(stored) >= first then
  return {-1, stored}
end

local bucketMs = tonumber(ARGV[3])
local hotKeep = tonumber(ARGV[4])
local W = tonumber(ARGV[5])
local L = tonumber(ARGV[6])
local lnG = tonumber(ARGV[7])
local nDims = tonumber(ARGV[8])
local shardTtl = tonumber(ARGV[9])
local unmatched = tonumber(ARGV[10])
local noEntity = tonumber(ARGV[11])
local metaTtl = tonumber(ARGV[12])
local sealFloor = tonumber(ARGV[13])
local FIRST = 14
local stride = 3 + nDims
local nEvents = (#ARGV - FIRST + 1) / stride
if nEvents ~= math.floor(nEvents) or not (bucketMs and hotKeep and W and L and lnG and nDims) then
  return {-2, 'argument count does not match nDims, or a number is missing'}
end

local function fmt(n) return string.format('%d', n) end

local wmRaw = redis.call('HGET', meta, 'w')
local wm = wmRaw and tonumber(wmRaw) or nil
-- Buckets starting before `sealed` are being (or have been) compacted into history: nothing may change them.
local sealed = tonumber(redis.call('HGET', meta, 's') or '')
if sealFloor and ((not sealed) or sealFloor > sealed) then
  sealed = sealFloor
  redis.call('HSET', meta, 's', fmt(sealFloor))
end

-- Counter deltas of the whole batch, aggregated so each distinct (key, field) costs one HINCRBY.
local acc, keyEnd, keyOrder = {}, {}, {}
local function add(key, endMs, field)
  local h = acc[key]
  if not h then
    h = {}
    acc[key] = h
    keyEnd[key] = endMs
    keyOrder[#keyOrder + 1] = key
  end
  h[field] = (h[field] or 0) + 1
end
-- Hot fine buckets only: compaction builds history fine buckets and rollups from them once they are sealed.
local minBucket = nil
local function addTimed(t, group, field)
  local fs = math.floor(t / bucketMs) * bucketMs
  if (not minBucket) or fs < minBucket then minBucket = fs end
  add(base .. 'f:' .. fmt(fs / 1000) .. ':' .. group, fs + bucketMs + hotKeep, field)
end
local function addVolume(t, s, d0)
  addTimed(t, 't', s)
  for j = 0, nDims - 1 do
    addTimed(t, 'd' .. j, s * 128 + tonumber(ARGV[d0 + j]))
  end
end
local function addCohort(st, s)
  addTimed(st.e, 't', 100 + s)
  local j = 0
  for code in string.gmatch(st.d, '%d+') do
    addTimed(st.e, 'd' .. j, 2048 + s * 128 + tonumber(code))
    j = j + 1
  end
end

-- Entity shards, read through once per field and written back once per batch.
local shardCache, dirty = {}, {}
local function shardKey(k) return base .. 'e:' .. fmt(k) end
local function getField(k, ent)
  local c = shardCache[k]
  if not c then c = {}; shardCache[k] = c end
  local v = c[ent]
  if v == nil then
    v = redis.call('HGET', shardKey(k), ent) or false
    c[ent] = v
  end
  return v
end
local function saveState(st, ent)
  local c = shardCache[st.k]
  if not c then c = {}; shardCache[st.k] = c end
  c[ent] = fmt(st.e - st.k * W) .. ':' .. fmt(st.l - st.e) .. ':' .. fmt(st.m) .. ':' .. st.d
  local d = dirty[st.k]
  if not d then d = {}; dirty[st.k] = d end
  d[ent] = true
end
local function findState(ent, t)
  local k0 = math.floor(t / W)
  for k = k0 + 1, k0 - 2, -1 do
    local v = getField(k, ent)
    if v then
      local eOff, lD, m, d = string.match(v, '^(-?%d+):(-?%d+):(%d+):(.*)$')
      local e = k * W + tonumber(eOff)
      return { k = k, e = e, l = e + tonumber(lD), m = tonumber(m), d = d }
    end
  end
  return nil
end
local function furthest(m)
  local f, s = -1, 0
  while m > 0 do
    if m % 2 == 1 then f = s end
    m = math.floor(m / 2)
    s = s + 1
  end
  return f
end

local late, entries, steps, dup, ooo, noentry, expired, lateCohort = 0, 0, 0, 0, 0, 0, 0, 0
local i = FIRST
for _ = 1, nEvents do
  local s = tonumber(ARGV[i])
  local t = tonumber(ARGV[i + 1])
  local ent = ARGV[i + 2]
  local d0 = i + 3
  i = i + stride
  if (wm and t < wm - L) or (sealed and t < sealed) then
    late = late + 1
  else
    if (not wm) or t > wm then wm = t end
    local st = findState(ent, t)
    if s == 0 then
      if st and t - st.e <= W then
        dup = dup + 1
        addTimed(t, 't', 200)
      else
        entries = entries + 1
        local codes = {}
        for j = 0, nDims - 1 do codes[j + 1] = ARGV[d0 + j] end
        saveState({ k = math.floor(t / W), e = t, l = t, m = 1, d = table.concat(codes, '.') }, ent)
        addVolume(t, 0, d0)
      end
    else
      local bitv = 2 ^ s
      if not st then
        noentry = noentry + 1
        addTimed(t, 't', 400 + s)
        addVolume(t, s, d0)
      elseif math.floor(st.m / bitv) % 2 == 1 then
        dup = dup + 1
        addTimed(t, 't', 200 + s)
      else
        local f = furthest(st.m)
        st.m = st.m + bitv
        addVolume(t, s, d0)
        if t - st.e > W then
          expired = expired + 1
          addTimed(t, 't', 500 + s)
        else
          steps = steps + 1
          -- The entity entered in a sealed bucket: its cohort counter is (being) compacted, so not applied.
          if sealed and st.e < sealed then
            lateCohort = lateCohort + 1
          else
            addCohort(st, s)
          end
          if f > s then
            ooo = ooo + 1
            addTimed(t, 't', 300 + s)
          else
            local dur = t - st.l
            local idx = 0
            if dur > 0 then idx = math.max(1, math.floor(math.log(dur) / lnG) + 1) end
            addTimed(t, 'h' .. s, idx)
            st.l = t
          end
        end
        saveState(st, ent)
      end
    end
  end
end

-- Counters. TTL runs from the watermark (event time), so a replayed backlog keeps its buckets as long as live
-- traffic would; a bucket already past retention is not written at all.
for _, key in ipairs(keyOrder) do
  local ttl = keyEnd[key] - wm
  if ttl > 0 then
    for field, n in pairs(acc[key]) do
      redis.call('HINCRBY', key, field, n)
    end
    redis.call('PEXPIRE', key, fmt(ttl))
  end
end

-- Entity states, one HSET per shard (chunked: unpack has a stack limit).
for k, ents in pairs(dirty) do
  local key = shardKey(k)
  local args = {}
  for ent in pairs(ents) do
    args[#args + 1] = ent
    args[#args + 1] = shardCache[k][ent]
    if #args >= 2000 then
      redis.call('HSET', key, unpack(args))
      args = {}
    end
  end
  if #args > 0 then redis.call('HSET', key, unpack(args)) end
  redis.call('PEXPIRE', key, fmt(shardTtl))
end

-- Shards no non-late event can look up any more (their newest lookup would need ts < watermark - lateness).
if wm then
  local minLive = math.floor((wm - L) / W) - 3
  local lo = tonumber(redis.call('HGET', meta, 'lo') or '')
  if lo then
    local from = lo
    if minLive - from > 64 then from = minLive - 64 end
    for k = from, minLive - 1 do redis.call('DEL', shardKey(k)) end
  end
  if (not lo) or minLive > lo then redis.call('HSET', meta, 'lo', fmt(minLive)) end
  redis.call('HSET', meta, 'w', fmt(wm))
end
-- Where the first compaction starts: the oldest hot bucket this partition ever wrote.
if minBucket then
  local fb = tonumber(redis.call('HGET', meta, 'fb') or '')
  if (not fb) or minBucket < fb then redis.call('HSET', meta, 'fb', fmt(minBucket)) end
end

redis.call('HSET', meta, 'o', ARGV[2])
local function bump(field, n) if n > 0 then redis.call('HINCRBY', meta, field, n) end end
bump('late', late)
bump('unm', unmatched)
bump('noent', noEntity)
bump('dup', dup)
bump('ooo', ooo)
bump('noentry', noentry)
bump('exp', expired)
bump('latecoh', lateCohort)
redis.call('PEXPIRE', meta, fmt(metaTtl))
return {1, late, entries, steps, dup, ooo, noentry, expired, wm or -1, lateCohort}
