--[[
  readState-2.lua (command fwWindowsReadStateV2): the read half of applyBatch's optimistic concurrency, in one call:
  the partition meta's offset, watermark and sealedUpTo, and the stored states of the batch's entities in every
  entity shard their events may look up. Read-only. One script instead of a pipeline of HMGETs because a batch
  names thousands of entities, and the client's per-argument encoding and per-element reply decoding cost more CPU
  than Redis spends answering; here they travel as one JSON string each way (cjson is part of Redis' Lua).
  V1 took one entity list per shard (each entity named in ~4 shards) and answered every pair, found or not; V2
  names each entity once with its shard range and answers only what exists.

  KEYS[1]  meta hash of the (funnel, partition): `<prefix>:{<funnel>:<partition>}:m`. Entity shards are
           `<KEYS[1] minus its final "m">e:<k>`: same hash tag, same cluster slot.
  ARGV[1]  JSON array [entity1, from1, to1, entity2, from2, to2, ...]: each entity of the batch once, with the
           range of shards k (from <= k <= to) to look it up in

  Returns
    {o, w, s, found}  o, w, s: the meta's fields ('' when absent); found: a JSON array of (entity index counted from
                      0 in ARGV order, shard k, stored state) triples, flat, for every state that exists
    {-2, message}     malformed ARGV[1]; nothing was read
]]
local meta = KEYS[1]
local base = string.sub(meta, 1, -2)
local ok, ask = pcall(cjson.decode, ARGV[1] or '')
if not ok or type(ask) ~= 'table' or #ask % 3 ~= 0 then return {-2, 'ARGV[1] is not a JSON array of entity, from, to triples'} end

-- Group the lookups by shard: one HMGET per shard.
local names, index, shards = {}, {}, {}
for i = 1, #ask, 3 do
  local e, from, to = ask[i], ask[i + 1], ask[i + 2]
  if type(e) ~= 'string' or type(from) ~= 'number' or type(to) ~= 'number' or to < from or to - from > 100000 then
    return {-2, 'triple ' .. ((i + 2) / 3) .. ' is not entity, from, to'}
  end
  for k = from, to do
    local sk = string.format('%d', k)
    local list = names[sk]
    if not list then
      list = {}
      names[sk] = list
      index[sk] = {}
      shards[#shards + 1] = sk
    end
    list[#list + 1] = e
    index[sk][#list] = (i - 1) / 3
  end
end

local m = redis.call('HMGET', meta, 'o', 'w', 's')
local out = {}
for _, sk in ipairs(shards) do
  local list, idx = names[sk], index[sk]
  local key = base .. 'e:' .. sk
  -- Chunked: unpack has a stack limit.
  local from = 1
  while from <= #list do
    local last = math.min(#list, from + 3999)
    local got = redis.call('HMGET', key, unpack(list, from, last))
    for j = 1, #got do
      if got[j] then
        out[#out + 1] = idx[from + j - 1]
        out[#out + 1] = tonumber(sk)
        out[#out + 1] = got[j]
      end
    end
    from = last + 1
  end
end
-- cjson encodes an empty table as {}: say [] plainly.
local found = '[]'
if #out > 0 then found = cjson.encode(out) end
return {m[1] or '', m[2] or '', m[3] or '', found}
