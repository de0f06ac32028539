--[[
  readState-1.lua (command fwWindowsReadStateV1): the read half of applyBatch's optimistic concurrency, in one call:
  the partition meta's offset, watermark and sealedUpTo, and the stored state of every entity a batch may look up.
  Read-only. One script instead of a pipeline of HMGETs because a batch names thousands of entities, and the
  client's per-argument encoding and per-element reply decoding cost more CPU than Redis spends answering; here they
  travel as one JSON string each way (cjson is part of Redis' Lua).

  KEYS[1]  meta hash of the (funnel, partition): `<prefix>:{<funnel>:<partition>}:m`. Entity shards are
           `<KEYS[1] minus its final "m">e:<k>`: same hash tag, same cluster slot.
  ARGV[1]  JSON array [k1, [entity, ...], k2, [entity, ...], ...]: shard numbers and the entities to look up there

  Returns
    {o, w, s, states}  o, w, s: the meta's fields ('' when absent); states: a JSON array with one array per shard in
                       the order asked, each the shard's stored states in the order of its entities, false where none
    {-2, message}      malformed ARGV[1]; nothing was read
]]
local meta = KEYS[1]
local base = string.sub(meta, 1, -2)
local ok, ask = pcall(cjson.decode, ARGV[1] or '')
if not ok or type(ask) ~= 'table' or #ask % 2 ~= 0 then return {-2, 'ARGV[1] is not a JSON array of shard, entities pairs'} end

local m = redis.call('HMGET', meta, 'o', 'w', 's')
local out = {}
for i = 1, #ask, 2 do
  local k, ents = ask[i], ask[i + 1]
  if type(k) ~= 'number' or type(ents) ~= 'table' then return {-2, 'pair ' .. ((i + 1) / 2) .. ' is not shard, entities'} end
  local key = base .. 'e:' .. string.format('%d', k)
  local vals = {}
  -- Chunked: unpack has a stack limit.
  local from = 1
  while from <= #ents do
    local last = math.min(#ents, from + 3999)
    local got = redis.call('HMGET', key, unpack(ents, from, last))
    for j = 1, #got do vals[from + j - 1] = got[j] end
    from = last + 1
  end
  -- An empty Lua table would be encoded as {}: the caller never asks for a shard with no entities.
  out[#out + 1] = vals
end
return {m[1] or '', m[2] or '', m[3] or '', cjson.encode(out)}
