/**
 * Alert delivery end to end, on real components: a leader (the real lease, state machine, planner and fenced
 * commit) queues jobs in the real Redis outbox; the real DeliveryOutbox worker delivers them through the real
 * Slack and PagerDuty receivers to loopback servers that answer like Slack and PagerDuty (test/support). Covered:
 * trigger → worse → resolve sequences; 429 with Retry-After then success; 5xx retried; PagerDuty 400 and Slack
 * invalid_auth not retried and self-alerted on the other receiver; silences muting a trigger and a reminder but
 * never a resolve; a resolve waiting for its trigger's retries; jobs of a dead worker taken over.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { stepAlert } from '../../../src/engine/alert-state.js';
import { alertKey } from '../../../src/model/alert-key.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import { RedisAlertStore } from '../../../src/engine/alert-store.js';
import { transitionId, type AlertTransition } from '../../../src/model/alert-transition.js';
import { LeaderLease } from '../../../src/engine/lease.js';
import { alertsKeys } from '../../../src/redis/alert-keys.js';
import { systemClock } from '../../../src/core/clock.js';
import { createLogger } from '../../../src/obs/logger.js';
import { Metrics } from '../../../src/obs/metrics.js';
import { planDeliveries } from '../../../src/notify/plan.js';
import { DEFAULT_GROUPING, type GroupState, type Grouping } from '../../../src/notify/grouping.js';
import { DeliveryOutbox } from '../../../src/notify/outbox.js';
import { receiverFactory, ReceiverRegistry } from '../../../src/notify/receivers.js';
import type { ReceiverDef } from '../../../src/rules/receiver-def.js';
import { RedisSilenceStore } from '../../../src/notify/silence-store.js';
import { SlackReceiver } from '../../../src/notify/slack.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';
import type { SlackReceiverDef } from '../../../src/rules/receiver-def.js';
import { startFakeSlack, type FakeSlack } from '../../support/fake-slack.js';
import { startFakePagerDuty, type FakePagerDuty } from '../../support/fake-pagerduty.js';
import { eventually, redisClient, uniquePrefix } from '../../support/env.js';
import { dropEvidence } from '../../support/engine-fixtures.js';

const MIN = 60_000;
const RULE = 'checkout-completion-drop';
const PD_KEY = 'e93facc04764012d7bfb002500d5d1a6';
const logger = createLogger({ level: 'silent', pretty: false });
const RECEIVERS: ReceiverDef[] = [
  { name: 'slack-payments', kind: 'slack', channel: 'C0ALERTS', token: { env: 'SLACK_BOT_TOKEN' } },
  { name: 'pagerduty-checkout', kind: 'pagerduty', routingKey: { env: 'PD_KEY' } },
];

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!().catch(() => {});
});

interface Rig {
  slack: FakeSlack;
  pd: FakePagerDuty;
  outbox: DeliveryOutbox;
  metrics: Metrics;
  silences: RedisSilenceStore;
  /** One evaluation look of the rule by the leader: step, plan, commit (jobs included). Returns the job events. */
  look(condition: 'breach' | 'ok', change?: number, advanceMs?: number): Promise<string[]>;
  /** Runs the worker until the outbox is empty (retries included). */
  drain(timeoutMs?: number): Promise<void>;
  now(): number;
  /** The id of the current (or last) incident group notified at `receiver`. */
  incident(receiver: string): string | undefined;
  prefix: string;
  redis: ReturnType<typeof redisClient>;
}

async function rig(
  opts: { env?: Record<string, string>; claimIdleMs?: number; consumer?: string; pruneIdleMs?: number } = {},
): Promise<Rig> {
  const slack = await startFakeSlack();
  const pd = await startFakePagerDuty();
  closers.push(
    () => slack.close(),
    () => pd.close(),
  );
  const redis = redisClient();
  const prefix = uniquePrefix();
  const metrics = new Metrics();
  const registry = new ReceiverRegistry(
    receiverFactory({
      logger,
      slackApiUrl: slack.url,
      pagerDutyUrl: pd.url,
      timeoutMs: 2_000,
      env: { SLACK_BOT_TOKEN: slack.token, PD_KEY, ...opts.env },
      write: () => {},
    }),
    logger,
  );
  registry.update(RECEIVERS);
  closers.push(() => registry.closeAll());
  const outbox = new DeliveryOutbox({
    redis,
    prefix,
    consumer: opts.consumer ?? 'worker-1',
    receivers: () => registry.get(),
    clock: systemClock,
    logger,
    metrics,
    backoffBaseMs: 50,
    backoffMaxMs: 200,
    orderWaitMs: 50,
    claimIdleMs: opts.claimIdleMs ?? 60_000,
    ...(opts.pruneIdleMs !== undefined ? { pruneIdleMs: opts.pruneIdleMs } : {}),
  });
  const lease = new LeaderLease({ redis, prefix, owner: 'test-leader', ttlMs: 60_000, clock: systemClock, logger });
  await lease.tryAcquire();
  const token = lease.token()!;
  const store = new RedisAlertStore({ redis, prefix });
  const silences = new RedisSilenceStore({ redis, prefix });
  // Virtual evaluation time, starting now: job times stay comparable to the worker's real clock.
  let now = Date.now();
  let state: AlertState | undefined;
  let groups = new Map<string, GroupState>();
  const lastGroup = new Map<string, string>();
  const notify = RECEIVERS.map((r) => r.name);
  const alertOf = (s: AlertState, kind: AlertTransition['kind']): AlertTransition => ({
    id: transitionId(s),
    kind,
    at: now,
    rule: RULE,
    funnel: 'checkout',
    segment: null,
    severity: 'critical',
    notify,
    labels: { team: 'payments' },
    incidentId: s.incidentId,
    from: 'inactive',
    to: s.status,
    evidence: s.evidence,
    ruleSetVersion: 'r-1',
    owner: 'payments-team',
    runbook: 'https://example.com/runbooks/checkout',
  });
  return {
    slack,
    pd,
    outbox,
    metrics,
    silences,
    prefix,
    redis,
    now: () => now,
    incident: (receiver) => lastGroup.get(receiver),
    async look(condition, change = 0.3, advanceMs = MIN) {
      now += advanceMs;
      const step = stepAlert(state, RULE, null, { condition, evidence: dropEvidence(change, now) }, now, {
        forMs: 0,
        resolveAfterMs: 2 * MIN,
      });
      const key = alertKey(RULE, null);
      const transitions = step.transition ? [alertOf(step.next, step.transition)] : [];
      // No group_wait and no group_interval: every look can notify, as one alert's incident group.
      const grouping: Grouping = {
        ...DEFAULT_GROUPING,
        groupWaitMs: 0,
        groupIntervalMs: 0,
        repeatIntervalMs: 60 * MIN,
      };
      const plan = planDeliveries({
        now,
        states: new Map([[key, step.next]]),
        transitions,
        silences: await silences.active(now),
        receivers: new Map(['console', ...notify].map((r) => [r, grouping])),
        groups,
        describe: (_k, s) => alertOf(s, 'firing'),
      });
      state = step.next;
      groups = plan.groups;
      for (const j of plan.jobs) if (j.group) lastGroup.set(j.receiver, j.group.id);
      expect(await store.commit(token, [state], transitions, { outbox: plan.outbox, groups: plan.groupWrites })).toBe(
        'ok',
      );
      return plan.jobs.map((j) => `${j.event}→${j.receiver}`);
    },
    async drain(timeoutMs = 15_000) {
      await eventually(
        async () => {
          await outbox.runOnce(false);
          const b = await outbox.backlog();
          return b.queued === 0 && b.delayed === 0 ? true : undefined;
        },
        timeoutMs,
        'outbox drained',
      );
    },
  };
}

async function metric(m: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const got = (await m.registry.getSingleMetric(name)!.get()).values;
  return got
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((a, v) => a + v.value, 0);
}

describe('delivery through the outbox', () => {
  it(
    'trigger → worse → resolve: ' + 'one Slack message updated in place with thread replies, one PagerDuty incident',
    async () => {
      const r = await rig();
      expect(await r.look('breach', 0.2)).toEqual(['firing→pagerduty-checkout', 'firing→slack-payments']);
      await r.drain();
      expect(r.slack.topLevel()).toHaveLength(1);
      const parent = r.slack.topLevel()[0]!;
      expect(parent.text).toMatch(/checkout-completion-drop/);
      await r.pd.settled();
      expect(r.pd.incidents).toHaveLength(1);
      expect(r.pd.incidents[0]!.dedupKey).toMatch(/^funnelwatch\/group\/[0-9a-f]{40}$/);
      expect(r.pd.incidents[0]!.status).toBe('open');

      expect(await r.look('breach', 0.45)).toEqual(['updated→pagerduty-checkout', 'updated→slack-payments']);
      await r.drain();
      expect(r.slack.topLevel()).toHaveLength(1);
      expect(r.slack.replies(parent.ts)).toHaveLength(1);
      expect(r.slack.topLevel()[0]!.edits).toBe(1);
      // The same severity: PagerDuty is not called for the update (it pages again only when the severity rises).
      await r.pd.settled();
      expect(r.pd.incidents).toHaveLength(1);
      expect(r.pd.requests).toHaveLength(1);

      await r.look('ok');
      expect(await r.look('ok', 0, 2 * MIN)).toEqual(['resolved→pagerduty-checkout', 'resolved→slack-payments']);
      await r.drain();
      expect(r.slack.topLevel()).toHaveLength(1);
      const replies = r.slack.replies(parent.ts);
      expect(replies).toHaveLength(2);
      expect(replies[1]!.replyBroadcast).toBe(true);
      expect(r.slack.topLevel()[0]!.edits).toBe(2);
      expect(JSON.stringify(r.slack.topLevel()[0]!.blocks)).toMatch(/RESOLVED/i);
      await r.pd.settled();
      expect(r.pd.incidents).toHaveLength(1);
      expect(r.pd.incidents[0]!.status).toBe('resolved');
      expect(r.pd.incidents[0]!.resolvePayload).toBeDefined();
      expect(r.pd.events.map((e) => `${e.action}:${e.effect}`)).toEqual(['trigger:opened', 'resolve:resolved']);

      expect(
        await metric(r.metrics, 'fw_deliveries_total', { receiver: 'pagerduty-checkout', outcome: 'delivered' }),
      ).toBe(3);
      expect(await metric(r.metrics, 'fw_deliveries_total', { receiver: 'slack-payments', outcome: 'delivered' })).toBe(
        3,
      );
      const text = await r.metrics.registry.metrics();
      expect(text).toMatch(/^fw_delivery_latency_seconds_count\{receiver="slack-payments",event="firing"\} 1$/m);
      // Nothing left behind: the stream entries are deleted once settled, the records say where each incident stands.
      expect(await r.redis.xlen(alertsKeys(r.prefix).outbox)).toBe(0);
      expect((await r.outbox.record('pagerduty-checkout', r.incident('pagerduty-checkout')!))?.state).toBe('closed');
      expect((await r.outbox.record('slack-payments', r.incident('slack-payments')!))?.record?.slack).toEqual({
        channel: 'C0ALERTS',
        ts: parent.ts,
      });
    },
  );

  it('429 with Retry-After is retried no sooner than asked, then delivered once', async () => {
    const r = await rig();
    r.slack.fail('chat.postMessage', 1, { status: 429, retryAfter: 1 });
    r.pd.fail(1, { status: 429, retryAfter: 1 });
    await r.look('breach');
    await r.drain();
    expect(r.slack.topLevel()).toHaveLength(1);
    const posts = r.slack.requests.filter((q) => q.method === 'chat.postMessage');
    expect(posts.map((q) => q.status)).toEqual([429, 200]);
    // Retry-After is a lower bound the worker must respect (not a speed assertion).
    expect(posts[1]!.time - posts[0]!.time).toBeGreaterThanOrEqual(950);
    expect(r.pd.requests.map((q) => q.status)).toEqual([429, 202]);
    expect(r.pd.requests[1]!.at - r.pd.requests[0]!.at).toBeGreaterThanOrEqual(950);
    await r.pd.settled();
    expect(r.pd.incidents).toHaveLength(1);
    expect(await metric(r.metrics, 'fw_deliveries_total', { outcome: 'retried' })).toBe(2);
  });

  it('5xx and network-level failures are retried with backoff until delivered', async () => {
    const r = await rig();
    r.slack.fail('chat.postMessage', 2, { status: 500 });
    r.pd.fail(2, { status: 503 });
    await r.look('breach');
    await r.drain();
    expect(r.slack.requests.filter((q) => q.method === 'chat.postMessage').map((q) => q.status)).toEqual([
      500, 500, 200,
    ]);
    expect(r.pd.requests.map((q) => q.status)).toEqual([503, 503, 202]);
    expect(r.slack.topLevel()).toHaveLength(1);
    await r.pd.settled();
    expect(r.pd.incidents).toHaveLength(1);
  });

  it(
    'PagerDuty 400 is not retried: logged, counted, and announced on Slack; ' + 'the resolve then skips PagerDuty',
    async () => {
      const r = await rig();
      r.pd.fail(1, { status: 400, errors: ['Service key is the wrong length (should be 32 characters)'] });
      await r.look('breach');
      await r.drain();
      expect(r.pd.requests).toHaveLength(1);
      await r.pd.settled();
      expect(r.pd.incidents).toHaveLength(0);
      const top = r.slack.topLevel();
      expect(top).toHaveLength(2); // the alert, and the self-alert about the failed page
      const selfAlert = top.find(
        (m) => /pagerduty-checkout/.test(m.text) && /wrong length/.test(m.text + JSON.stringify(m.blocks)),
      );
      expect(selfAlert).toBeDefined();
      expect(
        await metric(r.metrics, 'fw_deliveries_total', { receiver: 'pagerduty-checkout', outcome: 'failed' }),
      ).toBe(1);

      await r.look('ok');
      await r.look('ok', 0, 2 * MIN);
      await r.drain();
      expect(r.pd.requests).toHaveLength(1); // no resolve for a trigger PagerDuty never took
      expect(r.slack.replies(top[0]!.ts).length + r.slack.replies(top[1]!.ts).length).toBe(1);
    },
  );

  it('Slack invalid_auth is not retried and is self-alerted on PagerDuty', async () => {
    const r = await rig({ env: { SLACK_BOT_TOKEN: 'xoxb-revoked' } });
    await r.look('breach');
    await r.drain();
    const posts = r.slack.requests.filter((q) => q.method === 'chat.postMessage');
    expect(posts).toHaveLength(1);
    expect(r.slack.messages).toHaveLength(0);
    await r.pd.settled();
    const keys = r.pd.incidents.map((i) => i.dedupKey).sort();
    expect(keys).toEqual([
      'funnelwatch/delivery-failed/slack-payments',
      expect.stringMatching(/^funnelwatch\/group\//),
    ]);
    await r.pd.settled();
    const failed = r.pd.incident('funnelwatch/delivery-failed/slack-payments')!;
    expect(failed.summary).toMatch(/slack-payments/);
    expect(JSON.stringify(failed.payload)).toMatch(/invalid_auth|token/i);
  });

  it('a silence mutes the trigger of what it matches but never the resolve of an incident already open', async () => {
    const r = await rig();
    const t = r.now();
    // Muted for PagerDuty only: Slack gets the trigger.
    await r.silences.create({
      matchers: [{ name: 'receiver', op: '=', value: 'pagerduty-checkout' }],
      startsAt: t,
      endsAt: t + 60 * MIN,
      createdBy: 'ana',
      comment: 'PD maintenance',
    });
    expect(await r.look('breach')).toEqual(['firing→slack-payments']);
    await r.drain();
    expect(r.pd.requests).toHaveLength(0);
    expect(r.slack.topLevel()).toHaveLength(1);
    // A silence on the whole rule, created while it fires: the reminder is muted…
    await r.silences.create({
      matchers: [{ name: 'rule', op: '=', value: RULE }],
      startsAt: r.now(),
      endsAt: r.now() + 10 * 60 * MIN,
      createdBy: 'ana',
      comment: 'known issue',
    });
    expect(await r.look('breach', 0.3, 61 * MIN)).toEqual([]);
    // …the resolve is not: it reaches Slack (which had the trigger), and not PagerDuty (which never had it).
    await r.look('ok');
    expect(await r.look('ok', 0, 2 * MIN)).toEqual(['resolved→slack-payments']);
    await r.drain();
    expect(r.slack.replies(r.slack.topLevel()[0]!.ts)).toHaveLength(1);
    expect(JSON.stringify(r.slack.topLevel()[0]!.blocks)).toMatch(/RESOLVED/i);
    expect(r.pd.requests).toHaveLength(0);
  });

  it(
    'a resolve queued while its trigger is still being retried waits, ' + 'and PagerDuty sees trigger then resolve',
    async () => {
      const r = await rig();
      r.pd.fail(3, { status: 502 });
      await r.look('breach');
      await r.outbox.runOnce(false); // first attempt fails; the trigger waits for its retry
      await r.look('ok');
      await r.look('ok', 0, 2 * MIN); // resolve queued behind a pending trigger
      await r.drain();
      await r.pd.settled();
      expect(r.pd.events.map((e) => `${e.action}:${e.effect}`)).toEqual(['trigger:opened', 'resolve:resolved']);
      expect(
        await metric(r.metrics, 'fw_deliveries_total', {
          receiver: 'pagerduty-checkout',
          event: 'resolved',
          outcome: 'waiting',
        }),
      ).toBeGreaterThan(0);
    },
  );

  it(
    'a job read by a worker that died is taken over by another after the claim idle time, ' + 'and delivered once',
    async () => {
      const r = await rig({ claimIdleMs: 300, consumer: 'worker-2' });
      await r.look('breach');
      // A worker reads the jobs and dies before settling them (XREADGROUP as a consumer that never comes back).
      const keys = alertsKeys(r.prefix);
      await r.redis.xgroup('CREATE', keys.outbox, 'delivery', '0', 'MKSTREAM');
      const taken = (await r.redis.xreadgroup(
        'GROUP',
        'delivery',
        'dead-worker',
        'COUNT',
        10,
        'STREAMS',
        keys.outbox,
        '>',
      )) as [string, unknown[]][];
      expect(taken[0]![1]).toHaveLength(2);
      expect(await r.outbox.runOnce(false)).toBe(0); // nothing new, and not idle long enough yet
      await new Promise((res) => setTimeout(res, 400));
      await r.drain();
      await r.pd.settled();
      expect(r.pd.incidents).toHaveLength(1);
      expect(r.pd.requests).toHaveLength(1);
      expect(r.slack.topLevel()).toHaveLength(1);
    },
  );

  it(
    'a Slack post the dead worker made before dying is found when its job is taken over, ' + 'not posted again',
    async () => {
      const r = await rig({ claimIdleMs: 300, consumer: 'worker-2' });
      await r.look('breach');
      const keys = alertsKeys(r.prefix);
      await r.redis.xgroup('CREATE', keys.outbox, 'delivery', '0', 'MKSTREAM');
      const taken = (await r.redis.xreadgroup(
        'GROUP',
        'delivery',
        'dead-worker',
        'COUNT',
        10,
        'STREAMS',
        keys.outbox,
        '>',
      )) as [string, [string, string[]][]][];
      const jobs = taken[0]![1].map(([, fields]) => JSON.parse(fields[fields.indexOf('j') + 1]!) as DeliveryJob);
      const slackJob = jobs.find((j) => j.receiver === 'slack-payments')!;
      // The dead worker's Slack post went out (Slack has it), then the worker died before settling the job.
      const dying = new SlackReceiver({
        def: RECEIVERS[0] as SlackReceiverDef,
        apiUrl: r.slack.url,
        env: { SLACK_BOT_TOKEN: r.slack.token },
        logger,
        postIntervalMs: 0,
      });
      expect((await dying.deliver(slackJob, undefined)).ok).toBe(true);
      expect(r.slack.topLevel()).toHaveLength(1);
      await new Promise((res) => setTimeout(res, 400));
      await r.drain();
      expect(r.slack.topLevel()).toHaveLength(1);
      expect(r.slack.requests.map((q) => q.method)).toEqual(['chat.postMessage', 'conversations.history']);
      await r.pd.settled();
      expect(r.pd.incidents).toHaveLength(1);
      // The incident's record points at the message the dead worker posted, so the resolve edits that one.
      await r.look('ok');
      expect(await r.look('ok', 0, 2 * MIN)).toEqual(['resolved→pagerduty-checkout', 'resolved→slack-payments']);
      await r.drain();
      expect(r.slack.topLevel()).toHaveLength(1);
      expect(JSON.stringify(r.slack.topLevel()[0]!.blocks)).toMatch(/RESOLVED/i);
      expect(r.slack.replies(r.slack.topLevel()[0]!.ts)).toHaveLength(1);
    },
  );

  it(
    'consumer names left by stopped processes ' +
      '(nothing pending, long idle) are removed from the group; busy ones stay',
    async () => {
      const r = await rig({ pruneIdleMs: 300 });
      const keys = alertsKeys(r.prefix);
      await r.redis.xgroup('CREATE', keys.outbox, 'delivery', '0', 'MKSTREAM');
      await r.redis.xgroup('CREATECONSUMER', keys.outbox, 'delivery', 'gone-worker');
      await r.look('breach');
      // A dead worker holding jobs must stay until they are taken over.
      await r.redis.xreadgroup('GROUP', 'delivery', 'dead-holding', 'COUNT', 1, 'STREAMS', keys.outbox, '>');
      await new Promise((res) => setTimeout(res, 400));
      await r.outbox.runOnce(false);
      const names = ((await r.redis.xinfo('CONSUMERS', keys.outbox, 'delivery')) as (string | number)[][]).map((f) =>
        String(f[f.indexOf('name') + 1]),
      );
      expect(names).not.toContain('gone-worker');
      expect(names).toContain('dead-holding');
      expect(names).toContain('worker-1');
    },
  );
});
