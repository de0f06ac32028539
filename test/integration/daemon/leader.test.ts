/**
 * Exactly one replica evaluates: two real daemons (child processes) against one Redis share the evaluation lease;
 * only the holder evaluates, the other stands by; SIGKILL the holder and the other takes over once the lease
 * expires, with a larger fencing token.
 */
import { describe, expect, it } from 'vitest';
import { spawnDaemon, type DaemonChild } from '../../support/daemon.js';
import { eventually, redisClient, redisUrl, uniquePrefix } from '../../support/env.js';

const TTL_MS = 3_000;

async function url(d: DaemonChild): Promise<string> {
  return eventually(() => d.output().match(/"url":"(http:\/\/[^"]+)"/)?.[1], 20_000, 'daemon listening');
}

async function metric(base: string, re: RegExp): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(text.match(re)?.[1] ?? 0);
}

const LEADER = /^fw_evaluator_leader (\d+)$/m;
const EVALUATED = /^fw_eval_ticks_total\{outcome="evaluated"\} (\d+)$/m;
const STANDBY = /^fw_eval_ticks_total\{outcome="standby"\} (\d+)$/m;

describe('one evaluator across replicas', () => {
  it('only the lease holder evaluates; when it is killed the other takes over within the lease time', async () => {
    const prefix = uniquePrefix();
    const env = (id: string) => ({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: prefix,
      FW_RULES_DIR: 'rules',
      FW_HTTP_HOST: '127.0.0.1',
      FW_INSTANCE_ID: id,
      FW_LEASE_TTL_MS: String(TTL_MS),
      FW_TICK_SCHEDULE: '* * * * * *',
      FW_LOG_LEVEL: 'info',
    });
    const a = spawnDaemon(env('replica-a'));
    const b = spawnDaemon(env('replica-b'));
    const [ua, ub] = await Promise.all([url(a), url(b)]);

    // Both tick every second; exactly one of them evaluates.
    const [leader, standby] = await eventually(
      async () => {
        const la = await metric(ua, LEADER),
          lb = await metric(ub, LEADER);
        const ea = await metric(ua, EVALUATED),
          eb = await metric(ub, EVALUATED);
        if (la + lb !== 1) return undefined;
        const [l, s] =
          la === 1
            ? [
                { d: a, u: ua, e: ea },
                { d: b, u: ub, e: eb },
              ]
            : [
                { d: b, u: ub, e: eb },
                { d: a, u: ua, e: ea },
              ];
        return l.e >= 3 && (await metric(s.u, STANDBY)) >= 3 ? ([l, s] as const) : undefined;
      },
      30_000,
      'one leader evaluating, one standby',
    );
    expect(await metric(standby.u, EVALUATED)).toBe(0);

    const redis = redisClient();
    const before = await redis.get(`${prefix}:{alerts}:lease`);
    expect(before).toMatch(/^\d+:replica-/);
    const tokenBefore = Number(before!.split(':')[0]);

    leader.d.proc.kill('SIGKILL');
    await leader.d.exited;
    // The lease outlives its holder by at most its TTL; the standby retries every TTL/3. The wait below is a
    // generous upper bound for a loaded machine, not a timing assertion.
    await eventually(
      async () =>
        (await metric(standby.u, LEADER)) === 1 && (await metric(standby.u, EVALUATED)) >= 2 ? true : undefined,
      TTL_MS * 5,
      'standby took over',
    );
    const after = await redis.get(`${prefix}:{alerts}:lease`);
    expect(Number(after!.split(':')[0])).toBeGreaterThan(tokenBefore);
    // The new holder's value carries its own id.
    expect(after).toContain(standby.d === a ? ':replica-a-' : ':replica-b-');
    standby.d.proc.kill('SIGTERM');
    expect(await standby.d.exited).toBe(0);
  }, 90_000);
});
