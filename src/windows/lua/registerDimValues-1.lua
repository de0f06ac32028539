--[[
  registerDimValues-1.lua: give dimension values their codes, first come first served, up to each dimension's cap.
  Codes are stable once given and the registry only grows, so a value maps to the same code on every replica and
  on every replay of a batch; this is what lets the counters store small integer codes instead of strings.

  KEYS[1]  funnel-level registry hash `<prefix>:{<funnel>}:dims`:
           field "<dim>\0<value>" → code, field "#\0<dim>" → number of codes given so far
  ARGV[1]  TTL (ms) of the registry (refreshed here; longer than the longest retention)
  ARGV[2..] triplets: dimension name, maxValues, value

  Returns a flat array, two integers per triplet: code (126 = other: the dimension is full), codes given so far
  for that dimension.
]]
local key = KEYS[1]
local out = {}
for i = 2, #ARGV, 3 do
  local d, max, v = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local f = d .. '\0' .. v
  local countField = '#\0' .. d
  local n = tonumber(redis.call('HGET', key, countField) or '0')
  local code = redis.call('HGET', key, f)
  if code then
    code = tonumber(code)
  elseif n < max then
    code = n
    n = n + 1
    redis.call('HSET', key, f, code, countField, n)
  else
    code = 126
  end
  out[#out + 1] = code
  out[#out + 1] = n
end
redis.call('PEXPIRE', key, ARGV[1])
return out
