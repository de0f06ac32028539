/**
 * Redis goes away while events keep arriving: the consumer holds its batch (nothing committed, nothing lost),
 * retries with backoff, /readyz says why, and when Redis is back it resumes where it stopped and the counts are
 * exactly what was produced.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { startRedisServer } from '../../../src/devenv/redis-server.js';
import { kafkaBrokers, producer, uniqueName, eventually } from '../../support/env.js';

describe('Redis unavailable during consumption', () => {
  it('pauses without losing or double-counting anything and resumes when Redis returns', async () => {
    const redis = await startRedisServer({ persistent: true });
    onTestFinished(() => redis.stop());
    const topic = uniqueName('events');
    const config = loadConfig({
      FW_REDIS_URL: redis.url,
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: 'rules',
      FW_KAFKA_BROKERS: kafkaBrokers().join(','),
      FW_KAFKA_TOPICS: topic,
      FW_KAFKA_GROUP: uniqueName('g'),
      FW_KAFKA_FROM_BEGINNING: 'true',
    });
    const d = new Daemon({ config, logger: pino({ level: 'silent' }) });
    onTestFinished(() => d.stop());
    await d.start();
    const p = await producer();
    const t0 = Date.now() - 30 * 60_000;
    const send = (from: number, n: number) =>
      p.send({
        topic,
        messages: Array.from({ length: n }, (_, k) => {
          const i = from + k;
          return {
            key: `c${i}`,
            value: JSON.stringify({
              id: `e${i}`,
              type: 'checkout_started',
              ts: t0 + i * 50,
              entity: `c${i}`,
              attrs: { platform: 'ios' },
            }),
          };
        }),
      });
    const checkout = d.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    const counted = async () =>
      (await d.windows.stepTotals({ funnel: checkout, from: t0 - 60_000, to: Date.now() })).volume[0];

    await send(0, 5000);
    await eventually(async () => ((await counted()) === 5000 ? true : undefined), 30_000, 'first half counted');

    await redis.stop();
    await send(5000, 5000);
    const down = await eventually(
      async () => {
        const r = await fetch(`${d.httpUrl}/readyz`);
        return r.status === 503
          ? ((await r.json()) as { checks: Record<string, { ok: boolean; reason?: string }> })
          : undefined;
      },
      10_000,
      '/readyz 503',
    );
    expect(down.checks.redis!.ok).toBe(false);
    // The consumer keeps retrying the held batch while Redis is away.
    await eventually(
      async () => {
        const m = await (await fetch(`${d.httpUrl}/metrics`)).text();
        return /^fw_batches_total\{outcome="retry"\} [1-9]/m.test(m) ? true : undefined;
      },
      15_000,
      'retries while Redis is down',
    );

    await redis.restart();
    await eventually(
      async () => ((await counted().catch(() => 0)) === 10_000 ? true : undefined),
      60_000,
      'second half counted after Redis returned',
    );
    expect(await counted()).toBe(10_000);
    await eventually(
      async () => ((await fetch(`${d.httpUrl}/readyz`)).status === 200 ? true : undefined),
      10_000,
      '/readyz 200 again',
    );
  }, 120_000);
});
