--[[
  outbox-settle-3.lua: finish one delivery job in one atomic step: record what the
  delivery changed, schedule its retry, queue self-alerts, and acknowledge and delete the stream entry.

  Why one script: a worker that recorded "trigger delivered" but died before acknowledging would have the job
  reclaimed and delivered again; one that acknowledged first and died before recording would leave the resolve
  waiting for a trigger record that never comes. Together, either all of it happened or none of it did.

  Why the ownership check: a worker stalled past the claim idle time may find its job reclaimed by another
  replica; XACK alone does not check the consumer, so the stalled worker would settle a job the other one is
  delivering. Only the consumer that currently owns the pending entry settles it.

  KEYS[1]  outbox stream `<prefix>:{alerts}:outbox`
  KEYS[2]  delayed jobs (sorted set, score = when to retry, ms) `<prefix>:{alerts}:outbox-delayed`
  KEYS[3]  delivery records (hash, field = receiver|incident) `<prefix>:{alerts}:delivery`
  ARGV[1]  consumer group
  ARGV[2]  consumer name (the owner expected)
  ARGV[3]  stream entry id
  ARGV[4]  delivery field to write, or "" for none
  ARGV[5]  the record JSON for that field
  ARGV[6]  retry time (ms) or "" for no retry
  ARGV[7]  the job JSON to retry (its attempt already counted)
  ARGV[8..] further job JSONs to append to the outbox (self-alerts)

  Returns 1 when settled, 0 when this consumer no longer owns the entry (nothing written).
]]
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then
  return 0
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
end
if ARGV[6] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
end
for i = 8, #ARGV do
  redis.call('XADD', KEYS[1], '*', 'j', ARGV[i])
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return 1
