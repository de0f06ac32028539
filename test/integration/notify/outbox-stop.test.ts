/**
 * Stopping the delivery worker during a Redis outage: the daemon's shutdown awaits it, so a worker backing off
 * after failed Redis calls (up to 30 s between tries) must stop at once, not when its wait is over.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { DeliveryOutbox } from '../../../src/notify/outbox.js';
import { startRedisServer } from '../../../src/devenv/redis-server.js';
import { systemClock } from '../../../src/core/clock.js';
import { eventually, uniquePrefix } from '../../support/env.js';

describe('delivery worker stop', () => {
  it('ends during a Redis outage without waiting out its backoff', async () => {
    const server = await startRedisServer();
    onTestFinished(() => server.stop());
    // As the daemon's client: a command fails after one reconnection attempt.
    const redis = new Redis(server.url, {
      maxRetriesPerRequest: 1,
      retryStrategy: (n) => Math.min(100 * 2 ** Math.min(n, 6), 5_000),
    });
    redis.on('error', () => {});
    onTestFinished(() => redis.disconnect());
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(c, _e, cb) {
          lines.push(JSON.parse(String(c)) as Record<string, unknown>);
          cb();
        },
      }),
    );
    // A backoff of minutes after the first failure: a stop that waits it out outlives this test's timeout.
    const outbox = new DeliveryOutbox({
      redis,
      prefix: uniquePrefix(),
      consumer: 'w1',
      receivers: () => new Map(),
      clock: systemClock,
      logger,
      blockMs: 200,
      redisRetryBaseMs: 60_000,
      random: () => 0.5,
    });
    outbox.start();
    await new Promise((r) => setTimeout(r, 300));
    await server.stop();
    const backoff = await eventually(
      () => lines.find((l) => l.msg === 'delivery worker: Redis call failed; retrying'),
      15_000,
      'a failed worker call',
    );
    // The 30 s cap with equal jitter at random 0.5: halfway between 15 and 30 s.
    expect(backoff.retryInMs).toBe(22_500);
    await outbox.stop();
    expect(lines.filter((l) => l.msg === 'delivery worker: Redis call failed; retrying')).toHaveLength(1);
  }, 25_000);
});
