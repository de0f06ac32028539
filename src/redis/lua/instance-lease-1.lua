--[[
  instance-lease-1.lua: take, renew or release the lease on an instance id (redis/instance-lease.ts), atomically.

  The key holds the owner (a value unique per process) with a PX expiry. Taking succeeds only on a free key;
  renewing only while the key holds the caller's owner, or is free (Redis lost it: taken again); releasing deletes
  the key only while it is the caller's.

  KEYS[1]  lease key `<prefix>:instance:<id>`
  ARGV[1]  owner (unique per process)
  ARGV[2]  ttl in ms (a positive integer)
  ARGV[3]  'take', 'renew' or 'release'

  Returns
    {1, owner}     the caller holds the lease (take, renew) or released it (release)
    {0, holder}    another owner holds it; nothing changed
]]
local key = KEYS[1]
local owner = ARGV[1]
local mode = ARGV[3]
local v = redis.call('GET', key)
if mode == 'release' then
  if v == owner then redis.call('DEL', key) end
  return {1, owner}
end
if (not v) or (v == owner) then
  redis.call('SET', key, owner, 'PX', ARGV[2])
  return {1, owner}
end
return {0, v}
