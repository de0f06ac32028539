--[[
  gate-record-3.lua: store a canary gate's evidence record and, the first time a verdict is decided for the
  comparison, queue its notification jobs, in one atomic step.

  Why one script: every replica answers gate requests (Argo, Flagger and CI may all ask at once, each retrying),
  and each computes the same decision from the same counts. The "already announced" mark and the jobs go in
  together, so exactly one of them queues the jobs; the outbox then delivers each job once per receiver and
  incident (notify/outbox.ts, delivery-log.ts). A record computed from older data than the one stored (a slow
  replica) does not overwrite it.

  KEYS[1]  gate records (hash) `<prefix>:{alerts}:gates`: field → record JSON, field#at → its data end (ms),
           field#notified → the verdict last announced
  KEYS[2]  outbox stream `<prefix>:{alerts}:outbox`
  KEYS[3]  delivery records (hash) `<prefix>:{alerts}:delivery`
  ARGV[1]  field (gate|split|canary|baseline)
  ARGV[2]  record JSON
  ARGV[3]  the record's data end (ms)
  ARGV[4]  decided verdict to announce, or "" (inconclusive: nothing to announce)
  ARGV[5]  time to keep the records (ms)
  ARGV[6..] per job: delivery field to mark pending ("" for none), its marker JSON, the job JSON

  Returns {stored, queued}: stored 1 when the record was written (0: a newer one is kept), queued 1 when this call
  queued the announcement (0: none due, or announced before).
]]
local at = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. '#at') or '-1')
local stored = 0
if tonumber(ARGV[3]) >= at then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. '#at', ARGV[3])
  stored = 1
end
local queued = 0
if ARGV[4] ~= '' and redis.call('HGET', KEYS[1], ARGV[1] .. '#notified') ~= ARGV[4] then
  redis.call('HSET', KEYS[1], ARGV[1] .. '#notified', ARGV[4])
  for i = 6, #ARGV, 3 do
    if ARGV[i] ~= '' then
      redis.call('HSETNX', KEYS[3], ARGV[i], ARGV[i + 1])
    end
    redis.call('XADD', KEYS[2], '*', 'j', ARGV[i + 2])
  end
  queued = 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {stored, queued}
