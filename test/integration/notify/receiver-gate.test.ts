/**
 * The receiver gate shared by every replica's delivery workers (notify/outbox.ts, lua/receiver-gate-1.lua), with two
 * workers (two replicas' worth: separate consumers, separate receiver objects) on one outbox: after a 429 with
 * Retry-After from PagerDuty, neither worker calls PagerDuty before that time, and every job is delivered after;
 * PagerDuty deliveries of both workers together are paced at least 500 ms apart (about 120 a minute per key).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { outboxWrites } from '../../../src/notify/delivery-log.js';
import { DeliveryOutbox } from '../../../src/notify/outbox.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';
import { receiverFactory, ReceiverRegistry } from '../../../src/notify/receivers.js';
import { createLogger } from '../../../src/obs/logger.js';
import { alertsKeys } from '../../../src/redis/alert-keys.js';
import type { ReceiverDef } from '../../../src/rules/receiver-def.js';
import { eventually, redisClient, uniquePrefix } from '../../support/env.js';
import { startFakePagerDuty } from '../../support/fake-pagerduty.js';

const PD_KEY = 'e93facc04764012d7bfb002500d5d1a6';
const logger = createLogger({ level: 'silent', pretty: false });
const RECEIVERS: ReceiverDef[] = [{ name: 'pd', kind: 'pagerduty', routingKey: { env: 'PD_KEY' } }];

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!().catch(() => {});
});

function job(i: number, now: number): DeliveryJob {
  const id = `g${i}`;
  return {
    id: `${id}/firing/pd`,
    receiver: 'pd',
    event: 'firing',
    createdAt: now,
    attempt: 0,
    alert: {
      id: `${id}#1`,
      kind: 'firing',
      at: now,
      rule: `rule-${i}`,
      funnel: 'checkout',
      segment: null,
      severity: 'critical',
      notify: ['pd'],
      labels: {},
      incidentId: id,
      from: 'pending',
      to: 'firing',
      ruleSetVersion: 'v',
    },
  };
}

describe('receiver gate across workers', () => {
  it('a 429 with Retry-After pauses the receiver for every worker; deliveries are paced across workers', async () => {
    const pd = await startFakePagerDuty();
    closers.push(() => pd.close());
    const redis = redisClient();
    const prefix = uniquePrefix();
    const workers = ['replica-a', 'replica-b'].map((consumer) => {
      const registry = new ReceiverRegistry(
        receiverFactory({ logger, pagerDutyUrl: pd.url, timeoutMs: 2_000, env: { PD_KEY }, write: () => {} }),
        logger,
      );
      registry.update(RECEIVERS);
      closers.push(() => registry.closeAll());
      return new DeliveryOutbox({
        redis,
        prefix,
        consumer,
        receivers: () => registry.get(),
        clock: systemClock,
        logger,
        backoffBaseMs: 50,
        backoffMaxMs: 200,
        blockMs: 100,
      });
    });
    pd.fail(1, { status: 429, retryAfter: 2 });
    const keys = alertsKeys(prefix);
    const now = Date.now();
    for (const w of outboxWrites(Array.from({ length: 6 }, (_, i) => job(i, now)))) {
      if (w.mark) await redis.hsetnx(keys.delivery, w.mark, w.marker);
      await redis.xadd(keys.outbox, '*', 'j', w.job);
    }
    for (const w of workers) w.start();
    closers.push(() => Promise.all(workers.map((w) => w.stop())));
    await eventually(() => (pd.incidents.length === 6 ? true : undefined), 30_000, 'every job delivered');

    const requests = pd.requests.map((q) => ({ at: q.at, status: q.status }));
    expect(requests[0]!.status).toBe(429);
    // Nobody called PagerDuty again before the Retry-After had passed (a lower bound, as the server asked).
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(1_950);
    expect(requests.slice(1).every((q) => q.status === 202)).toBe(true);
    expect(requests).toHaveLength(7);
    // Both workers' deliveries, together, at least 500 ms apart.
    const gaps = requests.slice(2).map((q, i) => q.at - requests[i + 1]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(450);
  }, 60_000);
});
