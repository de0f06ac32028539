--[[
  alert-commit-1.lua: commit one evaluation's alert states, transitions and delivery
  jobs, only while the caller's fencing token is the current leader lease's, all in one atomic step in the
  `{alerts}` slot.

  The fence: a leader paused past its lease (GC, a stopped VM, a slow Redis) may still believe it leads when it
  commits; its token is then no longer the lease's and nothing is written, so it cannot overwrite the state of the
  replica that took over (lease-1.lua hands out ever larger tokens).

  Why jobs are written here: a page decided by the evaluator and the state that says it was decided must land
  together. Committing the state first and queueing the job after would lose the page if the process died in
  between (the state says "firing", nobody ever hears of it); queueing first would page for a state a fenced
  leader never committed. Each `firing` job also marks its (receiver, incident) as pending in the delivery hash
  (HSETNX: a retried commit never downgrades a record a worker already wrote), so a later resolve waits for the
  trigger instead of overtaking it (notify/outbox.ts).

  Transitions go to a stream capped at about ARGV[2] entries (MAXLEN ~) for the API and logs; jobs go to the outbox
  stream, never trimmed here: workers delete each job once it is settled.

  KEYS[1]  state hash `<prefix>:{alerts}:state` (alertKey → AlertState JSON). The lease `…:lease`, the transition
           stream `…:transitions`, the outbox stream `…:outbox`, the delivery hash `…:delivery` and the incident
           groups `…:groups` (notify/grouping.ts: committed with the jobs that notify them) are built from
           this key minus its final "state" (same hash tag, same slot).
  ARGV[1]  the caller's fencing token (decimal); or "<token>/<shard>" from the holder of an evaluation shard
           (engine/shards.ts), checked against that shard's lease `…:shard-lease:<shard>` instead
  ARGV[2]  approximate cap on the transition stream's length
  ARGV[3]  nStates, then nStates pairs: alertKey, state JSON
  then     nDelete, then nDelete alertKeys to remove (rules that no longer exist)
  then     nJobs, then nJobs triples: delivery field to mark pending ("" for none), pending-marker JSON, job JSON
  then     nGroups, then nGroups pairs: field of the groups hash `…:groups`, group JSON ("" deletes the field)
  then     the rest, pairs: transition id, transition JSON (appended in this order, newest last)

  Returns
    {1, nTransitions}      written
    {-1, leaseValue}       fenced: the lease holds another token ("" when nobody holds it); nothing written
    {-2, message}          malformed arguments; nothing written
]]
local state = KEYS[1]
local base = string.sub(state, 1, -6)
local lease = base .. 'lease'
local stream = base .. 'transitions'
local outbox = base .. 'outbox'
local delivery = base .. 'delivery'
local groups = base .. 'groups'
local token = ARGV[1]
-- Shard fencing: a token "<n>/<shard>" is checked against the shard's own lease (same hash tag, same slot).
local shard = token and string.match(token, '^%d+/(.+)$')
if shard then
  lease = base .. 'shard-lease:' .. shard
  token = string.match(token, '^(%d+)/')
end
local cap = tonumber(ARGV[2])
local nStates = tonumber(ARGV[3])
if not (token and string.match(token, '^%d+$') and cap and cap > 0 and nStates) then
  return {-2, 'token must be a whole number, cap positive and nStates a number'}
end
local delAt = 4 + 2 * nStates
local nDel = tonumber(ARGV[delAt])
if not nDel then return {-2, 'nDelete is not a number'} end
local jobsAt = delAt + nDel + 1
local nJobs = tonumber(ARGV[jobsAt])
if (not nJobs) or jobsAt + 3 * nJobs + 1 > #ARGV then
  return {-2, 'argument counts do not add up'}
end
local groupsAt = jobsAt + 3 * nJobs + 1
local nGroups = tonumber(ARGV[groupsAt])
if (not nGroups) or groupsAt + 2 * nGroups > #ARGV or (#ARGV - groupsAt - 2 * nGroups) % 2 ~= 0 then
  return {-2, 'argument counts do not add up'}
end

local held = redis.call('GET', lease)
if (not held) or string.match(held, '^(%d+):') ~= token then
  return {-1, held or ''}
end

for k = 4, 3 + 2 * nStates, 2000 do
  redis.call('HSET', state, unpack(ARGV, k, math.min(k + 1999, 3 + 2 * nStates)))
end
for k = delAt + 1, delAt + nDel, 4000 do
  redis.call('HDEL', state, unpack(ARGV, k, math.min(k + 3999, delAt + nDel)))
end
for k = jobsAt + 1, jobsAt + 3 * nJobs, 3 do
  if ARGV[k] ~= '' then redis.call('HSETNX', delivery, ARGV[k], ARGV[k + 1]) end
  redis.call('XADD', outbox, '*', 'j', ARGV[k + 2])
end
for k = groupsAt + 1, groupsAt + 2 * nGroups, 2 do
  if ARGV[k + 1] == '' then redis.call('HDEL', groups, ARGV[k]) else redis.call('HSET', groups, ARGV[k], ARGV[k + 1]) end
end
local n = 0
for k = groupsAt + 2 * nGroups + 1, #ARGV, 2 do
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[2], '*', 'id', ARGV[k], 't', ARGV[k + 1])
  n = n + 1
end
return {1, n}
