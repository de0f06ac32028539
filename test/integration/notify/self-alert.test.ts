/**
 * Resolves that are never given up, and the self-alert that a given-up or refused delivery raises and that the
 * receiver's recovery resolves (notify/outbox.ts, notify/self-alerts.ts, lua/self-alert-3.lua), on the real outbox
 * in a real Redis, through the real Slack and PagerDuty receivers to the fakes in test/support. The give-up time is
 * crossed by moving the workers' clock, not by waiting for it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/core/clock.js';
import { outboxWrites } from '../../../src/notify/delivery-log.js';
import { DeliveryOutbox } from '../../../src/notify/outbox.js';
import type { DeliveryEvent, DeliveryJob } from '../../../src/notify/receiver.js';
import { receiverFactory, ReceiverRegistry } from '../../../src/notify/receivers.js';
import { pagerDutyDedupKey, deliveryFailedDedupKey, PROBE_DEDUP_KEY } from '../../../src/notify/pagerduty.js';
import { createLogger } from '../../../src/obs/logger.js';
import { Metrics } from '../../../src/obs/metrics.js';
import { alertsKeys } from '../../../src/redis/alert-keys.js';
import type { ReceiverDef } from '../../../src/rules/receiver-def.js';
import { eventually, redisClient, uniquePrefix } from '../../support/env.js';
import { startFakePagerDuty, type FakePagerDuty } from '../../support/fake-pagerduty.js';
import { headerOf, startFakeSlack, type FakeSlack } from '../../support/fake-slack.js';

const PD_KEY = 'e93facc04764012d7bfb002500d5d1a6';
const GIVE_UP_MS = 60_000;
const logger = createLogger({ level: 'silent', pretty: false });
const RECEIVERS: ReceiverDef[] = [
  { name: 'slack-ops', kind: 'slack', channel: 'C0ALERTS', token: { env: 'SLACK_BOT_TOKEN' } },
  { name: 'pd-checkout', kind: 'pagerduty', routingKey: { env: 'PD_KEY' } },
];

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!().catch(() => {});
});

/** The workers' clock: real time plus what a test moves it by. */
class ShiftedClock implements Clock {
  shift = 0;
  now(): number {
    return Date.now() + this.shift;
  }
}

function job(i: number, event: DeliveryEvent, receiver: string, now: number): DeliveryJob {
  const incident = `rule-${i}@1`;
  return {
    id: `${incident}#1/${event}/${receiver}`,
    receiver,
    event,
    createdAt: now,
    attempt: 0,
    alert: {
      id: `${incident}#1`,
      kind: event === 'resolved' ? 'resolved' : 'firing',
      at: now,
      rule: `rule-${i}`,
      funnel: 'checkout',
      segment: null,
      severity: 'critical',
      notify: RECEIVERS.map((r) => r.name),
      labels: {},
      incidentId: incident,
      from: 'pending',
      to: event === 'resolved' ? 'inactive' : 'firing',
      ruleSetVersion: 'v',
    },
  };
}

interface Rig {
  slack: FakeSlack;
  pd: FakePagerDuty;
  env: Record<string, string>;
  clock: ShiftedClock;
  prefix: string;
  redis: ReturnType<typeof redisClient>;
  workers: { outbox: DeliveryOutbox; registry: ReceiverRegistry; metrics: Metrics }[];
  queue(jobs: DeliveryJob[]): Promise<void>;
  /** Runs worker 0 until nothing is queued or delayed. */
  drain(): Promise<void>;
  count(name: string, labels: Record<string, string>): Promise<number>;
}

async function rig(opts: { workers?: number; slackToken?: string; probeEveryMs?: number } = {}): Promise<Rig> {
  const slack = await startFakeSlack();
  const pd = await startFakePagerDuty();
  closers.push(
    () => slack.close(),
    () => pd.close(),
  );
  const redis = redisClient();
  const prefix = uniquePrefix();
  const clock = new ShiftedClock();
  const env = { SLACK_BOT_TOKEN: opts.slackToken ?? slack.token, PD_KEY };
  // Each worker as its own replica: its own receivers, its own consumer name, one outbox in Redis.
  const workers = Array.from({ length: opts.workers ?? 1 }, (_, w) => {
    const registry = new ReceiverRegistry(
      receiverFactory({ logger, slackApiUrl: slack.url, pagerDutyUrl: pd.url, timeoutMs: 2_000, env, write: () => {} }),
      logger,
    );
    registry.update(RECEIVERS);
    closers.push(() => registry.closeAll());
    const metrics = new Metrics();
    const outbox = new DeliveryOutbox({
      redis,
      prefix,
      consumer: `replica-${w}`,
      receivers: () => registry.get(),
      clock,
      logger,
      metrics,
      giveUpMs: GIVE_UP_MS,
      backoffBaseMs: 50,
      backoffMaxMs: 200,
      orderWaitMs: 50,
      blockMs: 100,
      // Off unless a test is about the probe: the others show recovery seen on a delivery.
      probeEveryMs: opts.probeEveryMs ?? 3_600_000,
    });
    return { outbox, registry, metrics };
  });
  const keys = alertsKeys(prefix);
  return {
    slack,
    pd,
    env,
    clock,
    prefix,
    redis,
    workers,
    async queue(jobs) {
      for (const w of outboxWrites(jobs)) {
        if (w.mark) await redis.hsetnx(keys.delivery, w.mark, w.marker);
        await redis.xadd(keys.outbox, '*', 'j', w.job);
      }
    },
    async drain() {
      await eventually(
        async () => {
          await workers[0]!.outbox.runOnce(false);
          const b = await workers[0]!.outbox.backlog();
          return b.queued === 0 && b.delayed === 0 ? true : undefined;
        },
        30_000,
        'outbox drained',
      );
    },
    async count(name, labels) {
      let n = 0;
      for (const w of workers) {
        const got = (await w.metrics.registry.getSingleMetric(name)!.get()).values;
        n += got
          .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
          .reduce((a, v) => a + v.value, 0);
      }
      return n;
    },
  };
}

/** Runs worker 0 until `probe` holds. */
async function runUntil(r: Rig, probe: () => boolean | Promise<boolean>, what: string): Promise<void> {
  await eventually(
    async () => {
      await r.workers[0]!.outbox.runOnce(false);
      return (await probe()) ? true : undefined;
    },
    30_000,
    what,
  );
}

describe('resolves are never given up; given-up triggers raise a self-alert that recovery resolves', () => {
  it('a resolve keeps retrying past the give-up time and is delivered once PagerDuty answers again', async () => {
    const r = await rig();
    await r.queue([job(1, 'firing', 'pd-checkout', r.clock.now())]);
    await r.drain();
    await r.pd.settled();
    const key = pagerDutyDedupKey('rule-1', null);
    expect(r.pd.incident(key)?.status).toBe('open');

    r.pd.fail(4, { status: 503 });
    await r.queue([job(1, 'resolved', 'pd-checkout', r.clock.now())]);
    await runUntil(r, () => r.pd.requests.length === 2, 'the resolve tried once');
    // Six hours pass (here: the give-up time) while PagerDuty keeps answering 503.
    r.clock.shift += GIVE_UP_MS + 1_000;
    await r.drain();
    await r.pd.settled();
    expect(r.pd.requests.map((q) => q.status)).toEqual([202, 503, 503, 503, 503, 202]);
    expect(r.pd.incident(key)?.status).toBe('resolved');
    expect(await r.count('fw_deliveries_total', { outcome: 'failed' })).toBe(0);
    expect(r.slack.messages).toHaveLength(0); // nothing failed: no self-alert
  });

  it('a trigger given up raises the self-alert on the other receiver; the next delivery resolves it', async () => {
    const r = await rig();
    r.pd.fail(2, { status: 503 });
    await r.queue([job(1, 'firing', 'pd-checkout', r.clock.now())]);
    await runUntil(r, () => r.pd.requests.length === 1, 'the trigger tried once');
    r.clock.shift += GIVE_UP_MS + 1_000;
    await r.drain();
    expect(r.pd.requests.map((q) => q.status)).toEqual([503, 503]);
    expect(await r.count('fw_deliveries_total', { receiver: 'pd-checkout', outcome: 'failed' })).toBe(1);
    const [selfAlert] = r.slack.topLevel('C0ALERTS');
    expect(headerOf(selfAlert!.blocks)).toBe(':warning: DELIVERY FAILED: pd-checkout');
    expect(JSON.stringify(selfAlert!.blocks)).toMatch(/DELIVERY_GAVE_UP/);
    expect(await r.redis.exists(alertsKeys(r.prefix).selfAlert('pd-checkout'))).toBe(1);

    // PagerDuty answers again: the next trigger goes through, and the self-alert is resolved in place.
    await r.queue([job(2, 'firing', 'pd-checkout', r.clock.now())]);
    await r.drain();
    await r.pd.settled();
    expect(r.pd.incident(pagerDutyDedupKey('rule-2', null))?.status).toBe('open');
    expect(r.slack.topLevel('C0ALERTS')).toHaveLength(1);
    expect(headerOf(r.slack.topLevel('C0ALERTS')[0]!.blocks)).toBe(
      ':large_green_circle: DELIVERY RECOVERED: pd-checkout',
    );
    expect(r.slack.replies(selfAlert!.ts)).toHaveLength(1);
    expect(await r.redis.exists(alertsKeys(r.prefix).selfAlert('pd-checkout'))).toBe(0);
    expect(await r.count('fw_deliveries_total', { event: 'delivery_recovered', outcome: 'delivered' })).toBe(1);
  });

  it('a job PagerDuty has nothing to send for (a reminder) does not count as a recovery', async () => {
    const r = await rig();
    await r.queue([job(1, 'firing', 'pd-checkout', r.clock.now())]);
    await r.drain();
    r.pd.fail(1, { status: 400, errors: ['Event object is invalid'] });
    await r.queue([job(2, 'firing', 'pd-checkout', r.clock.now())]);
    await r.drain();
    expect(headerOf(r.slack.topLevel('C0ALERTS')[0]!.blocks)).toBe(':warning: DELIVERY FAILED: pd-checkout');
    await r.queue([{ ...job(1, 'reminder', 'pd-checkout', r.clock.now()), id: 'rule-1@1#1/reminder/pd-checkout/1' }]);
    await r.drain();
    expect(await r.count('fw_deliveries_total', { event: 'reminder', outcome: 'delivered' })).toBe(1);
    expect(r.pd.requests).toHaveLength(2); // the reminder sent nothing
    expect(await r.redis.exists(alertsKeys(r.prefix).selfAlert('pd-checkout'))).toBe(1);
    expect(headerOf(r.slack.topLevel('C0ALERTS')[0]!.blocks)).toBe(':warning: DELIVERY FAILED: pd-checkout');
  });

  it('with nothing more sent to it, a probe sees the receiver recover and resolves the self-alert', async () => {
    const r = await rig({ probeEveryMs: 5 * 60_000 });
    r.pd.fail(3, { status: 503 });
    await r.queue([job(1, 'firing', 'pd-checkout', r.clock.now())]);
    await runUntil(r, () => r.pd.requests.length === 1, 'the trigger tried once');
    r.clock.shift += GIVE_UP_MS + 1_000;
    await r.drain();
    expect(headerOf(r.slack.topLevel('C0ALERTS')[0]!.blocks)).toBe(':warning: DELIVERY FAILED: pd-checkout');
    // Five minutes on, the probe finds PagerDuty still failing (its third 503); five more, it answers.
    r.clock.shift += 5 * 60_000;
    await runUntil(r, () => r.pd.requests.length === 3, 'first probe');
    expect(r.pd.requests[2]!.json).toMatchObject({ event_action: 'resolve', dedup_key: PROBE_DEDUP_KEY });
    expect(await r.redis.exists(alertsKeys(r.prefix).selfAlert('pd-checkout'))).toBe(1);
    r.clock.shift += 5 * 60_000;
    await runUntil(
      r,
      () =>
        headerOf(r.slack.topLevel('C0ALERTS')[0]?.blocks) === ':large_green_circle: DELIVERY RECOVERED: pd-checkout',
      'the self-alert resolved after a probe was answered',
    );
    expect(r.pd.requests.map((q) => q.status)).toEqual([503, 503, 503, 202]);
    await r.pd.settled();
    expect(r.pd.incidents).toHaveLength(0); // the probe opened nothing
    expect(await r.redis.exists(alertsKeys(r.prefix).selfAlert('pd-checkout'))).toBe(0);
    expect(await r.redis.smembers(alertsKeys(r.prefix).selfAlerts)).toEqual([]);
  });

  it('two workers: one self-alert for many refused jobs, resolved once when the receiver recovers', async () => {
    const r = await rig({ workers: 2, slackToken: 'xoxb-revoked' });
    for (const w of r.workers) w.outbox.start();
    closers.push(() => Promise.all(r.workers.map((w) => w.outbox.stop())));
    const failedKey = deliveryFailedDedupKey('slack-ops');
    await r.queue([1, 2, 3, 4].map((i) => job(i, 'firing', 'slack-ops', r.clock.now())));
    await eventually(
      async () =>
        (await r.count('fw_deliveries_total', { receiver: 'slack-ops', outcome: 'failed' })) === 4 ? 1 : undefined,
      30_000,
      'all four refused (invalid_auth)',
    );
    await eventually(
      async () => {
        await r.pd.settled();
        return r.pd.incident(failedKey) ? true : undefined;
      },
      30_000,
      'the self-alert paged',
    );

    // The token is fixed: the next jobs go through, and whichever worker delivers first resolves the self-alert.
    r.env.SLACK_BOT_TOKEN = r.slack.token;
    await r.queue([5, 6, 7, 8].map((i) => job(i, 'firing', 'slack-ops', r.clock.now())));
    await eventually(
      async () => {
        await r.pd.settled();
        const b = await r.workers[0]!.outbox.backlog();
        return r.slack.topLevel('C0ALERTS').length === 4 &&
          r.pd.incident(failedKey)?.status === 'resolved' &&
          b.queued === 0 &&
          b.delayed === 0
          ? true
          : undefined;
      },
      60_000,
      'delivered again and the self-alert resolved',
    );
    const events = r.pd.events.filter((e) => e.dedupKey === failedKey).map((e) => `${e.action}:${e.effect}`);
    expect(events).toEqual(['trigger:opened', 'resolve:resolved']);
    expect(r.pd.incidents.filter((i) => i.dedupKey === failedKey)).toHaveLength(1);
    expect(await r.count('fw_deliveries_total', { event: 'delivery_failed', outcome: 'delivered' })).toBe(1);
    expect(await r.count('fw_deliveries_total', { event: 'delivery_recovered', outcome: 'delivered' })).toBe(1);
  }, 90_000);

  it('a resolve for a receiver removed from the config is dropped, logged and counted; no self-alert', async () => {
    const r = await rig();
    await r.queue([job(1, 'firing', 'pd-checkout', r.clock.now())]);
    await r.drain();
    r.workers[0]!.registry.update(RECEIVERS.filter((d) => d.name !== 'pd-checkout'));
    await r.queue([job(1, 'resolved', 'pd-checkout', r.clock.now())]);
    await r.drain();
    expect(
      await r.count('fw_deliveries_total', { receiver: 'pd-checkout', event: 'resolved', outcome: 'dropped' }),
    ).toBe(1);
    expect(r.pd.requests).toHaveLength(1);
    expect(r.slack.messages).toHaveLength(0);
    expect(await r.redis.exists(alertsKeys(r.prefix).selfAlert('pd-checkout'))).toBe(0);
    // A trigger queued before the removal fails (counted) without a self-alert that nothing would ever resolve.
    await r.queue([job(2, 'firing', 'pd-checkout', r.clock.now())]);
    await r.drain();
    expect(await r.count('fw_deliveries_total', { receiver: 'pd-checkout', event: 'firing', outcome: 'failed' })).toBe(
      1,
    );
    expect(r.slack.messages).toHaveLength(0);
    expect(await r.redis.exists(alertsKeys(r.prefix).selfAlert('pd-checkout'))).toBe(0);
  });
});
