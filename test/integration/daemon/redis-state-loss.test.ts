/**
 * Redis loses everything in the middle of a run (FLUSHALL; separately, a restart of a Redis without persistence),
 * with the real daemon (dist/main.js) ingesting over HTTP and delivering to a local webhook server: the daemon
 * re-derives what it had cached of Redis (the outbox's consumer group, the window store's registered partitions
 * and dimension codes, the evaluator's alert states), and the next alert that fires is delivered within two
 * evaluation ticks. The loss is counted (fw_redis_state_lost_total) and shown on /readyz as a warning.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServerHandle } from '../../../src/devenv/redis-server.js';
import { spawnDaemon } from '../../support/daemon.js';
import { eventually, uniquePrefix } from '../../support/env.js';
import { MIN, shopMinute, shopRulesDir, startWebhook } from '../../support/shop-daemon.js';

/** 100 minutes ending a minute ago, 3 of 4 checkouts paid until the last 12 minutes (then 1 in 8). */
function history(): object[] {
  const t0 = Math.floor(Date.now() / MIN) * MIN - 100 * MIN;
  return Array.from({ length: 100 }, (_, k) => shopMinute(t0, k, 88)).flat();
}

async function runLossScenario(lose: (redis: RedisServerHandle) => Promise<void>): Promise<void> {
  let log = () => '';
  try {
    await scenario(lose, (output) => (log = output));
  } catch (err) {
    // What the daemon said is the first thing to read when this fails.
    const tail = log().split('\n').slice(-40).join('\n');
    throw new Error(`${String(err)}\n--- daemon log (last lines) ---\n${tail}`, { cause: err });
  }
}

async function scenario(
  lose: (redis: RedisServerHandle) => Promise<void>,
  showLog: (output: () => string) => void,
): Promise<void> {
  const redis = await startRedisServer();
  onTestFinished(() => redis.stop());
  const hook = await startWebhook();
  onTestFinished(() => hook.close());
  const d = spawnDaemon({
    FW_REDIS_URL: redis.url,
    FW_REDIS_PREFIX: uniquePrefix(),
    FW_RULES_DIR: shopRulesDir(hook.url),
    FW_HTTP_HOST: '127.0.0.1',
    FW_LOG_LEVEL: 'info',
    FW_TICK_SCHEDULE: '* * * * * *',
    FW_LEASE_TTL_MS: '3000',
    FW_DELIVERY_BACKOFF_MS: '100',
  });
  showLog(d.output);
  const url = await eventually(
    () => /"url":"(http:[^"]+)"[^\n]*"http server listening"/.exec(d.output())?.[1],
    30_000,
    'daemon listening',
  );
  await eventually(
    async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined),
    30_000,
    'daemon ready',
  );
  const send = async () => {
    const r = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(history()),
    });
    return r.status === 200 ? ((await r.json()) as { accepted: number; rejected: number }) : undefined;
  };
  const firings = () => hook.bodies.filter((b) => b.event === 'firing').length;

  // A normal run: the drop fires and is delivered (the outbox's consumer group exists and is cached).
  expect((await send())?.rejected).toBe(0);
  await eventually(() => (firings() === 1 ? true : undefined), 90_000, 'first firing delivered');

  // Redis loses everything; the same history arrives again (the windows are gone with it).
  await lose(redis);
  const again = await eventually(send, 30_000, 'events accepted after the loss');
  expect(again.rejected).toBe(0);

  // The alert fires again (its state was lost) and is delivered within two evaluation ticks of firing.
  const evaluations = async () => {
    const m = await (await fetch(`${url}/metrics`)).text();
    return Number(/^fw_tick_task_seconds_count\{task="evaluate"\} (\d+)/m.exec(m)?.[1] ?? 0);
  };
  let firedAt: number | undefined;
  const deliveredAt = await eventually(
    async () => {
      const n = await evaluations();
      if (firedAt === undefined) {
        const alerts = JSON.stringify(await (await fetch(`${url}/v1/alerts`)).json());
        if (/"status":"firing"/.test(alerts)) firedAt = n;
      }
      return firings() >= 2 ? n : undefined;
    },
    90_000,
    'a firing delivered after the loss',
  );
  expect(firedAt).toBeDefined();
  expect(deliveredAt - firedAt!).toBeLessThanOrEqual(2);

  // The loss is counted and shown.
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const lost = [...metrics.matchAll(/^fw_redis_state_lost_total\{[^}]*\} (\d+)/gm)].map((m) => Number(m[1]));
  expect(lost.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  const ready = (await (await fetch(`${url}/readyz`)).json()) as { checks: Record<string, { warning?: string }> };
  expect(ready.checks['redis-state']?.warning).toMatch(/lost/);

  d.proc.kill('SIGTERM');
  expect(await d.exited).toBe(0);
}

describe('Redis loses its data in the middle of a run', () => {
  it('after a FLUSHALL, the next alert that fires is delivered within two evaluation ticks', async () => {
    await runLossScenario(async (redis) => {
      const admin = new Redis(redis.url);
      await admin.flushall();
      admin.disconnect();
    });
  }, 240_000);

  it('after a restart of a Redis without persistence, the next alert that fires is delivered', async () => {
    await runLossScenario((redis) => redis.restart());
  }, 240_000);
});
