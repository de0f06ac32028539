--[[
  lease-1.lua: acquire or renew the leader lease, in one atomic step.

  The lease key holds "<token>:<owner>" with a PX expiry. The token comes from a counter that only grows and never
  expires, so every new holder gets a larger token than any holder before it; writers fence on it (the alert
  store's commit checks that the lease still holds the caller's token), which keeps a paused ex-leader from
  writing over its successor.

  Renewal needs the caller's current token, not just its owner name: two live processes configured with the same
  instance id must not both believe they lead, and a restarted process that lost its token waits out the old
  lease (or finds it released by a graceful stop) like anyone else.

  KEYS[1]  lease key `<prefix>:{alerts}:lease`. The token counter is KEYS[1] .. "-token" (same hash tag, same slot).
  ARGV[1]  owner (instance id; no restriction on characters)
  ARGV[2]  ttl in ms (a positive integer)
  ARGV[3]  the token the caller holds, or "" if none

  Returns
    {1, token, ttl}        the caller leads: a new token if the lease was free, else its own renewed
    {0, value, pttl}       another holder: the lease value "<token>:<owner>" and its remaining ms
    {-2, message}          malformed arguments; nothing changed
]]
local lease = KEYS[1]
local counter = lease .. '-token'
local owner = ARGV[1]
local ttl = tonumber(ARGV[2])
local mine = ARGV[3]
if (not owner) or owner == '' or (not ttl) or ttl <= 0 or ttl ~= math.floor(ttl) then
  return {-2, 'owner must be non-empty and ttl a positive integer (ms)'}
end

local v = redis.call('GET', lease)
if not v then
  local t = redis.call('INCR', counter)
  redis.call('SET', lease, string.format('%d', t) .. ':' .. owner, 'PX', ARGV[2])
  return {1, t, ttl}
end
if mine ~= '' and v == mine .. ':' .. owner then
  redis.call('PEXPIRE', lease, ARGV[2])
  return {1, tonumber(mine), ttl}
end
return {0, v, redis.call('PTTL', lease)}
