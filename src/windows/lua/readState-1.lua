--[[
  readState-1.lua: the read half of applyBatch's optimistic concurrency, in one call:
  the partition meta's offset, watermark and sealedUpTo, and the stored states of the batch's entities in every
  entity shard their events may look up. Read-only. One script instead of a pipeline of HMGETs because a batch
  names thousands of entities, and the client's per-argument encoding and per-element reply decoding cost more CPU
  than Redis spends answering; here they travel as one JSON string each way (cjson is part of Redis' Lua).
  V1 answered every (shard, entity) pair asked, found or not (most are not); V2 answers only what exists. The
  lookups arrive grouped by shard because grouping them here (from one shard range per entity) cost Redis more
  than the longer argument does.

  KEYS[1]  meta hash of the (funnel, partition): `<prefix>:{<funnel>:<partition>}:m`. Entity shards are
           `<KEYS[1] minus its final "m">e:<k>`: same hash tag, same cluster slot.
  ARGV[1]  JSON array [k1, [entity, ...], k2, [entity, ...], ...]: shard numbers and the entities to look up there

  Returns
    {o, w, s, found}  o, w, s: the meta's fields ('' when absent); found: a JSON array of flat triples (pair,
                      position, state), one per stored state that exists: the pair's index in ARGV[1] and the
                      entity's position in its list, both counted from 0
    {-2, message}     malformed ARGV[1]; nothing was read
]]
local meta = KEYS[1]
local base = string.sub(meta, 1, -2)
local ok, ask = pcall(cjson.decode, ARGV[1] or '')
if not ok or type(ask) ~= 'table' or #ask % 2 ~= 0 then return {-2, 'ARGV[1] is not a JSON array of shard, entities pairs'} end

local m = redis.call('HMGET', meta, 'o', 'w', 's')
local out = {}
local n = 0
for i = 1, #ask, 2 do
  local k, ents = ask[i], ask[i + 1]
  if type(k) ~= 'number' or type(ents) ~= 'table' then return {-2, 'pair ' .. ((i + 1) / 2) .. ' is not shard, entities'} end
  local key = base .. 'e:' .. string.format('%d', k)
  local pair = (i - 1) / 2
  -- Chunked: unpack has a stack limit.
  local count = #ents
  local from = 1
  while from <= count do
    local last = math.min(count, from + 3999)
    local got = redis.call('HMGET', key, unpack(ents, from, last))
    for j = 1, #got do
      if got[j] then
        out[n + 1] = pair
        out[n + 2] = from + j - 2
        out[n + 3] = got[j]
        n = n + 3
      end
    end
    from = last + 1
  end
end
-- cjson encodes an empty table as {}: say [] plainly.
local found = '[]'
if n > 0 then found = cjson.encode(out) end
return {m[1] or '', m[2] or '', m[3] or '', found}
