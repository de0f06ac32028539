--[[
  members-1.lua: one membership heartbeat of a replica taking part in sharded evaluation, and the live members,
  in one atomic step.

  Expiries are measured on Redis' clock (TIME), not the replicas': replicas whose clocks disagree still agree on
  who is alive. A member whose expiry passed is removed here, by whichever replica beats next.

  KEYS[1]  members (sorted set) `<prefix>:{alerts}:members`: member → expiry, ms
  ARGV[1]  member (instance id)
  ARGV[2]  ttl in ms (a positive integer); "0" leaves: the member is removed now

  Returns the live members (sorted by name)
]]
local ttl = tonumber(ARGV[2])
if (not ARGV[1]) or ARGV[1] == '' or (not ttl) or ttl < 0 then
  return redis.error_reply('member must be non-empty and ttl a whole number of ms')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ttl > 0 then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl * 10)
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(live)
return live
