/**
 * Restart safety of delivery with the real daemon (child processes) and loopback servers that answer like
 * PagerDuty and Slack: the daemon is SIGKILLed while the trigger is in flight at both receivers, restarted, and
 * delivers the trigger exactly once; then killed again while the resolve is in flight, restarted, and delivers the
 * resolve exactly once. The test plays the evaluating leader (real lease, planner and fenced commit), so the
 * daemons are delivery workers, as every replica is; a request the daemon never got an answer to had no effect
 * (the fakes apply an event only when they answer it).
 */
import { describe, expect, it } from 'vitest';
import { stepAlert } from '../../../src/engine/alert-state.js';
import { alertKey } from '../../../src/model/alert-key.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import { RedisAlertStore } from '../../../src/engine/alert-store.js';
import { transitionId, type AlertTransition } from '../../../src/model/alert-transition.js';
import { LeaderLease } from '../../../src/engine/lease.js';
import { systemClock } from '../../../src/core/clock.js';
import { createLogger } from '../../../src/obs/logger.js';
import { planDeliveries } from '../../../src/notify/plan.js';
import { DEFAULT_GROUPING, type GroupState, type Grouping } from '../../../src/notify/grouping.js';
import { spawnDaemon, type DaemonChild } from '../../support/daemon.js';
import { eventually, redisClient, redisUrl, uniquePrefix } from '../../support/env.js';
import { startFakePagerDuty } from '../../support/fake-pagerduty.js';
import { startFakeSlack } from '../../support/fake-slack.js';
import { dropEvidence } from '../../support/engine-fixtures.js';

const MIN = 60_000;
const RULE = 'checkout-completion-drop'; // in rules/checkout.yaml, notifying pagerduty-checkout and slack-payments
const PD_KEY = 'e93facc04764012d7bfb002500d5d1a6';
const logger = createLogger({ level: 'silent', pretty: false });

describe('delivery across SIGKILL', () => {
  it(
    'killed mid-delivery of the trigger and of the resolve: ' +
      'exactly one trigger and one resolve reach PagerDuty and Slack',
    async () => {
      const pd = await startFakePagerDuty();
      const slack = await startFakeSlack({ channels: { C0PAYMENTS1: 'payments-alerts' } });
      try {
        const prefix = uniquePrefix();
        const redis = redisClient();
        const env = {
          FW_REDIS_URL: redisUrl(),
          FW_REDIS_PREFIX: prefix,
          FW_RULES_DIR: 'rules',
          FW_HTTP_HOST: '127.0.0.1',
          FW_LOG_LEVEL: 'info',
          FW_PAGERDUTY_URL: pd.url,
          FW_SLACK_API_URL: slack.url,
          PAGERDUTY_CHECKOUT_KEY: PD_KEY,
          SLACK_BOT_TOKEN: slack.token,
          FW_DELIVERY_CLAIM_IDLE_MS: '1500',
          FW_DELIVERY_TIMEOUT_MS: '1000',
          FW_DELIVERY_BACKOFF_MS: '100',
        };
        // The test holds the evaluation lease: the daemons stand by as evaluators and work as delivery workers.
        const lease = new LeaderLease({
          redis,
          prefix,
          owner: 'test-leader',
          ttlMs: 10 * MIN,
          clock: systemClock,
          logger,
        });
        await lease.tryAcquire();
        const store = new RedisAlertStore({ redis, prefix });
        let now = Date.now();
        let state: AlertState | undefined;
        let groups = new Map<string, GroupState>();
        const notify = ['pagerduty-checkout', 'slack-payments'];
        const look = async (condition: 'breach' | 'ok', advanceMs: number) => {
          now += advanceMs;
          const step = stepAlert(
            state,
            RULE,
            null,
            { condition, evidence: dropEvidence(condition === 'breach' ? 0.3 : 0, now) },
            now,
            { forMs: 0, resolveAfterMs: 2 * MIN },
          );
          const alertOf = (s: AlertState, kind: AlertTransition['kind']): AlertTransition => ({
            id: transitionId(s),
            kind,
            at: now,
            rule: RULE,
            funnel: 'checkout',
            segment: null,
            severity: 'critical',
            notify,
            labels: {},
            incidentId: s.incidentId,
            from: state?.status ?? 'inactive',
            to: s.status,
            evidence: s.evidence,
            ruleSetVersion: 'r-test',
          });
          const transitions: AlertTransition[] = step.transition ? [alertOf(step.next, step.transition)] : [];
          // The incident group notifies at once and on every change (no group_wait, no group_interval).
          const grouping: Grouping = { ...DEFAULT_GROUPING, groupWaitMs: 0, groupIntervalMs: 0, repeatIntervalMs: 0 };
          const plan = planDeliveries({
            now,
            states: new Map([[alertKey(RULE, null), step.next]]),
            transitions,
            silences: [],
            receivers: new Map(notify.map((r) => [r, grouping])),
            groups,
            describe: (_k, s) => alertOf(s, 'firing'),
          });
          state = step.next;
          groups = plan.groups;
          const opts = { outbox: plan.outbox, groups: plan.groupWrites };
          expect(await store.commit(lease.token()!, [state], transitions, opts)).toBe('ok');
          return plan.jobs.length;
        };
        const start = async (): Promise<DaemonChild> => {
          const d = spawnDaemon(env);
          await eventually(
            () => (/"http server listening"/.test(d.output()) ? true : undefined),
            20_000,
            'daemon listening',
          );
          return d;
        };
        const kill = async (d: DaemonChild) => {
          d.proc.kill('SIGKILL');
          await d.exited;
        };

        // 1. The trigger: both requests held in flight, then the daemon killed.
        const a = await start();
        const heldTrigger = pd.holdNext({ apply: 'on-release' });
        slack.fail('chat.postMessage', 1, { hang: true });
        expect(await look('breach', MIN)).toBe(2);
        await heldTrigger.received;
        await eventually(
          () => (slack.requests.some((q) => q.method === 'chat.postMessage') ? true : undefined),
          20_000,
          'slack post in flight',
        );
        await kill(a);
        await heldTrigger.gone;
        await pd.settled();
        expect(pd.incidents).toHaveLength(0);
        expect(slack.messages).toHaveLength(0);

        // Restarted: the jobs the dead worker held are taken over after the claim idle time and delivered once.
        const b = await start();
        await eventually(
          () => (pd.incidents.length === 1 && slack.topLevel().length === 1 ? true : undefined),
          30_000,
          'trigger delivered after restart',
        );

        // 2. The resolve: both first requests held in flight, then the daemon killed again.
        const heldResolve = pd.holdNext({ apply: 'on-release' });
        slack.fail('chat.update', 1, { hang: true });
        await look('ok', MIN);
        expect(await look('ok', 2 * MIN)).toBe(2);
        await heldResolve.received;
        await eventually(
          () => (slack.requests.some((q) => q.method === 'chat.update') ? true : undefined),
          20_000,
          'slack update in flight',
        );
        await kill(b);
        await heldResolve.gone;
        await pd.settled();
        expect(pd.incidents[0]!.status).toBe('open');

        const c = await start();
        await eventually(
          () =>
            pd.incidents[0]!.status === 'resolved' && slack.replies(slack.topLevel()[0]!.ts).length === 1
              ? true
              : undefined,
          30_000,
          'resolve delivered after restart',
        );
        // Give a wrongly repeated delivery the chance to show before counting.
        await new Promise((r) => setTimeout(r, 2_000));

        const answered = (action: string) =>
          pd.requests.filter(
            (q) => q.answered && (q.json as { event_action?: string } | undefined)?.event_action === action,
          );
        expect(answered('trigger')).toHaveLength(1);
        expect(answered('resolve')).toHaveLength(1);
        await pd.settled();
        expect(pd.events.map((e) => `${e.action}:${e.effect}`)).toEqual(['trigger:opened', 'resolve:resolved']);
        expect(pd.incidents).toHaveLength(1);
        expect(slack.topLevel()).toHaveLength(1);
        expect(slack.topLevel()[0]!.edits).toBe(1);
        expect(JSON.stringify(slack.topLevel()[0]!.blocks)).toMatch(/RESOLVED/i);
        expect(slack.replies(slack.topLevel()[0]!.ts)).toHaveLength(1);
        c.proc.kill('SIGTERM');
        expect(await c.exited).toBe(0);
      } finally {
        await pd.close();
        await slack.close();
      }
    },
  );
});
