/**
 * The storm of issue 21's acceptance list, on real components: 200 alert series of 3 funnels start firing within
 * one (evaluation) minute; the real planner groups them, the real fenced commit queues the jobs in the real Redis
 * outbox, and two delivery workers (two replicas' worth, sharing the receiver gate in Redis) deliver them through
 * the real Slack and PagerDuty receivers to fakes that rate-limit on their own (Slack ~1 post a second per channel
 * with a burst of 3, PagerDuty 120 events a minute per routing key; a 429 carries Retry-After and the fake records
 * any call inside its pause). Then every series recovers. Proved: one Slack parent message and one PagerDuty
 * incident per group, no call to a receiver while the fake had it paused, every group's trigger and resolve
 * delivered (PagerDuty incidents resolved, Slack parents showing RESOLVED with the resolve in their thread).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { RedisAlertStore } from '../../../src/engine/alert-store.js';
import { stepAlert } from '../../../src/engine/alert-state.js';
import { LeaderLease } from '../../../src/engine/lease.js';
import { alertKey } from '../../../src/model/alert-key.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import { transitionId, type AlertTransition } from '../../../src/model/alert-transition.js';
import { DEFAULT_GROUPING, type GroupState, type Grouping } from '../../../src/notify/grouping.js';
import { DeliveryOutbox } from '../../../src/notify/outbox.js';
import { planDeliveries } from '../../../src/notify/plan.js';
import { receiverFactory, ReceiverRegistry } from '../../../src/notify/receivers.js';
import { createLogger } from '../../../src/obs/logger.js';
import type { ReceiverDef } from '../../../src/rules/receiver-def.js';
import { eventually, redisClient, uniquePrefix } from '../../support/env.js';
import { startFakePagerDuty } from '../../support/fake-pagerduty.js';
import { startFakeSlack } from '../../support/fake-slack.js';
import { dropEvidence } from '../../support/engine-fixtures.js';

const SEC = 1_000;
const MIN = 60 * SEC;
const PD_KEY = 'e93facc04764012d7bfb002500d5d1a6';
const FUNNELS = ['checkout', 'signup', 'onboarding'];
const SERIES = 200;
const logger = createLogger({ level: 'silent', pretty: false });
const RECEIVERS: ReceiverDef[] = [
  { name: 'slack-alerts', kind: 'slack', channel: 'C0ALERTS', token: { env: 'SLACK_BOT_TOKEN' } },
  { name: 'pagerduty', kind: 'pagerduty', routingKey: { env: 'PD_KEY' } },
];

interface Series {
  rule: string;
  funnel: string;
  segment: { dimension: string; value: string };
  state?: AlertState;
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!().catch(() => {});
});

describe('alert storm', () => {
  it('200 series, 3 funnels: one Slack parent and one incident per group, none sent in a pause, all sent', async () => {
    const slack = await startFakeSlack();
    const pd = await startFakePagerDuty();
    closers.push(
      () => slack.close(),
      () => pd.close(),
    );
    const redis = redisClient();
    const prefix = uniquePrefix();
    const workers = ['replica-a', 'replica-b'].map((consumer) => {
      const registry = new ReceiverRegistry(
        receiverFactory({
          logger,
          slackApiUrl: slack.url,
          pagerDutyUrl: pd.url,
          timeoutMs: 2_000,
          env: { SLACK_BOT_TOKEN: slack.token, PD_KEY },
          write: () => {},
        }),
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
        backoffMaxMs: 500,
        orderWaitMs: 50,
        blockMs: 100,
      });
    });
    for (const w of workers) w.start();
    closers.push(() => Promise.all(workers.map((w) => w.stop())));

    const lease = new LeaderLease({
      redis,
      prefix,
      owner: 'storm-leader',
      ttlMs: 10 * MIN,
      clock: systemClock,
      logger,
    });
    await lease.tryAcquire();
    const token = lease.token()!;
    const store = new RedisAlertStore({ redis, prefix });
    const series: Series[] = Array.from({ length: SERIES }, (_, i) => {
      const funnel = FUNNELS[i % FUNNELS.length]!;
      return { rule: `${funnel}-rule-${i % 4}`, funnel, segment: { dimension: 'provider', value: `p${i}` } };
    });
    const alertOf = (s: Series, st: AlertState, kind: AlertTransition['kind'], now: number): AlertTransition => ({
      id: transitionId(st),
      kind,
      at: now,
      rule: s.rule,
      funnel: s.funnel,
      segment: s.segment,
      severity: 'critical',
      notify: RECEIVERS.map((r) => r.name),
      labels: {},
      incidentId: st.incidentId,
      from: 'inactive',
      to: st.status,
      evidence: st.evidence,
      ruleSetVersion: 'r-1',
    });
    // group_wait and group_interval short enough for the looks below; grouping by funnel (the default).
    const grouping: Grouping = { ...DEFAULT_GROUPING, groupWaitMs: 10 * SEC, groupIntervalMs: 30 * SEC };
    const receivers = new Map(RECEIVERS.map((r) => [r.name, grouping]));
    const byKey = new Map(series.map((s) => [alertKey(s.rule, s.segment), s]));
    let groups = new Map<string, GroupState>();
    // Virtual evaluation time from now on, so job times stay comparable to the workers' real clock.
    let now = Date.now();
    const look = async (firing: (i: number) => boolean, advanceMs: number): Promise<void> => {
      now += advanceMs;
      const transitions: AlertTransition[] = [];
      const states = new Map<string, AlertState>();
      series.forEach((s, i) => {
        const breach = firing(i);
        if (!breach && s.state === undefined) return;
        const step = stepAlert(
          s.state,
          s.rule,
          s.segment,
          { condition: breach ? 'breach' : 'ok', evidence: dropEvidence(0.3, now) },
          now,
          {
            forMs: 0,
            resolveAfterMs: 2 * MIN,
          },
        );
        s.state = step.next;
        states.set(alertKey(s.rule, s.segment), step.next);
        if (step.transition) transitions.push(alertOf(s, step.next, step.transition, now));
      });
      const plan = planDeliveries({
        now,
        states,
        transitions,
        silences: [],
        receivers,
        groups,
        describe: (key, st) => {
          const s = byKey.get(key);
          return s ? alertOf(s, st, 'firing', now) : undefined;
        },
      });
      groups = plan.groups;
      const result = await store.commit(token, [...states.values()], transitions, {
        outbox: plan.outbox,
        groups: plan.groupWrites,
      });
      expect(result).toBe('ok');
    };

    // Other traffic of the same Slack app and PagerDuty service has used up their allowance: the first call of
    // each is answered 429 Retry-After 2 and the fake keeps that pause (the fakes' own limits would not be reached:
    // the gate paces at their rates, and grouping keeps the calls few).
    slack.fail('chat.postMessage', 1, { status: 429, retryAfter: 2 });
    pd.throttle(1, 2);

    // The storm: a quarter of the series more every 15 s, all 200 firing within the minute.
    for (let q = 1; q <= 4; q++) await look((i) => i < (SERIES * q) / 4, q === 1 ? 0 : 15 * SEC);
    // Past group_wait and group_interval while still firing, so every group has triggered and been updated.
    await look(() => true, 30 * SEC);
    await eventually(
      async () => {
        await pd.settled();
        return pd.open().length === FUNNELS.length && slack.topLevel().length === FUNNELS.length ? true : undefined;
      },
      60_000,
      'one trigger per group delivered to both receivers',
    );
    // Recovery: every series ok long enough to resolve, then a look past group_interval sends the resolves.
    await look(() => false, 30 * SEC);
    await look(() => false, 2 * MIN);
    await look(() => false, 30 * SEC);
    await eventually(
      async () => {
        await pd.settled();
        const resolved = pd.incidents.filter((x) => x.status === 'resolved').length === FUNNELS.length;
        // The parent shows RESOLVED and its thread carries the resolve, broadcast to the channel.
        const shown = slack
          .topLevel()
          .every(
            (m) => /RESOLVED/i.test(JSON.stringify(m.blocks)) && slack.replies(m.ts).some((r) => r.replyBroadcast),
          );
        return resolved && shown ? true : undefined;
      },
      120_000,
      'every group resolved at both receivers',
    );

    // One parent message and one incident per group, for three groups (one per funnel).
    expect(slack.topLevel()).toHaveLength(FUNNELS.length);
    expect(pd.incidents).toHaveLength(FUNNELS.length);
    expect(new Set(pd.incidents.map((x) => x.dedupKey)).size).toBe(FUNNELS.length);
    expect(pd.events.filter((e) => e.effect === 'opened')).toHaveLength(FUNNELS.length);
    expect(pd.events.filter((e) => e.effect === 'resolved')).toHaveLength(FUNNELS.length);
    // Exactly one resolve reply per group.
    for (const parent of slack.topLevel()) {
      expect(slack.replies(parent.ts).filter((m) => m.replyBroadcast)).toHaveLength(1);
    }
    // Nobody called a receiver while the fake had it paused after a 429 (and there were pauses).
    expect(slack.pauses.length).toBeGreaterThanOrEqual(1);
    expect(pd.pauses.length).toBeGreaterThanOrEqual(1);
    expect(slack.calledWhilePaused).toEqual([]);
    expect(pd.calledWhilePaused).toEqual([]);
    // Every 429 was a pause's first answer: none went to a call inside a pause.
    expect(slack.requests.filter((r) => r.status === 429)).toHaveLength(slack.pauses.length);
    expect(pd.requests.filter((r) => r.status === 429)).toHaveLength(pd.pauses.length);
  }, 240_000);
});
