--[[
  alert-commit-1.lua (command fwAlertCommitV1): commit one evaluation's alert states and transitions, only while
  the caller's fencing token is the current leader lease's, all in one atomic step in the `{alerts}` slot.

  The fence: a leader paused past its lease (GC, a stopped VM, a slow Redis) may still believe it leads when it
  commits; its token is then no longer the lease's and nothing is written, so it cannot overwrite the state of the
  replica that took over (lease-1.lua hands out ever larger tokens).

  Transitions go to a stream capped at about ARGV[2] entries (MAXLEN ~, so Redis trims whole nodes cheaply). A
  stream rather than a list so the delivery work can read it as an outbox with a consumer group later, without a
  second write path; each entry carries the transition's stable id for deduplication.

  KEYS[1]  state hash `<prefix>:{alerts}:state` (alertKey → AlertState JSON). The lease `…:lease` and the
           transition stream `…:transitions` are built from KEYS[1] minus its final "state" (same hash tag, same slot).
  ARGV[1]  the caller's fencing token (decimal)
  ARGV[2]  approximate cap on the transition stream's length
  ARGV[3]  nStates, then nStates pairs: alertKey, state JSON
  then     nDelete, then nDelete alertKeys to remove (rules that no longer exist)
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
local token = ARGV[1]
local cap = tonumber(ARGV[2])
local nStates = tonumber(ARGV[3])
if not (token and string.match(token, '^%d+$') and cap and cap > 0 and nStates) then
  return {-2, 'token must be a whole number, cap positive and nStates a number'}
end
local delAt = 4 + 2 * nStates
local nDel = tonumber(ARGV[delAt])
if (not nDel) or delAt + nDel > #ARGV or (#ARGV - delAt - nDel) % 2 ~= 0 then
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
local n = 0
for k = delAt + nDel + 1, #ARGV, 2 do
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[2], '*', 'id', ARGV[k], 't', ARGV[k + 1])
  n = n + 1
end
return {1, n}
