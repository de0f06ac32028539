/**
 * The delivery planner as a pure function over several alerts and ticks: incident groups per receiver, group_wait
 * before the first notification, group_interval between updates, repeat_interval reminders, silences and
 * inhibition. States come from the real state machine (stepAlert), so the incident fields are the ones the
 * evaluator commits; the groups the plan returns are fed into the next tick, as the fenced commit stores them.
 */
import { describe, expect, it } from 'vitest';
import { stepAlert } from '../../../src/engine/alert-state.js';
import { alertKey } from '../../../src/model/alert-key.js';
import type { AlertContext } from '../../../src/model/alert-context.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import type { Evidence } from '../../../src/model/evidence.js';
import type { SegmentRef } from '../../../src/model/segment.js';
import { transitionId, type AlertTransition } from '../../../src/model/alert-transition.js';
import { DEFAULT_GROUPING, type GroupState, type Grouping } from '../../../src/notify/grouping.js';
import { planDeliveries } from '../../../src/notify/plan.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';
import type { Silence } from '../../../src/notify/silences.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0);
const MIN = 60_000;
const RULE = 'checkout-completion-drop';
const PAY = 'payment-success-drop';

function evidence(change: number, at: number): Evidence {
  return {
    observed: 600 * (1 - change),
    expected: 600,
    observedRate: 0.6 * (1 - change),
    expectedRate: 0.6,
    relativeChange: change,
    volume: 1000,
    windowMinutes: 15,
    statistic: 5,
    threshold: 3,
    pValue: 1e-6,
    chanceRatePerWeek: 0.1,
    onset: at - 3 * MIN,
    evaluatedUpTo: at,
    baseline: { kind: 'seasonal', weeksUsed: 4 },
  };
}

/** A drill-down that places the deficit in `dimension=value`. */
function localised(dimension: string, value: string): AlertContext {
  return {
    drilldown: {
      classification: 'localised',
      summary: `${dimension}=${value} carries 90% of the deficit`,
      dimensions: [
        {
          dimension,
          top: [{ value, expected: 100, observed: 10, deficitShare: 0.9, rateChanged: true }],
        },
      ],
    },
  };
}

interface Look {
  rule?: string;
  segment?: SegmentRef | null;
  breach: boolean;
  change?: number;
  severity?: AlertTransition['severity'];
  funnel?: string;
  context?: AlertContext;
  /** The rule's own group_by. */
  groupBy?: string[];
}

/** Several alerts, stepped and planned tick by tick, with the groups carried over as the commit stores them. */
class World {
  states = new Map<string, AlertState>();
  groups = new Map<string, GroupState>();
  silences: Silence[] = [];
  notify = ['slack-payments', 'pagerduty-checkout'];
  /** Per alertKey: the rule's receivers when they differ from `notify`. */
  notifyOf = new Map<string, string[]>();
  receivers = new Map<string, Grouping>([
    ['console', DEFAULT_GROUPING],
    ['slack-payments', DEFAULT_GROUPING],
    ['pagerduty-checkout', DEFAULT_GROUPING],
  ]);
  private meta = new Map<string, Look>();

  alertOf(key: string, state: AlertState, kind: AlertTransition['kind']): AlertTransition {
    const m = this.meta.get(key)!;
    return {
      id: transitionId(state),
      kind,
      at: state.lastEvaluated,
      rule: state.rule,
      funnel: m.funnel ?? 'checkout',
      segment: state.segment,
      severity: m.severity ?? 'critical',
      notify: this.notifyOf.get(key) ?? this.notify,
      labels: { team: 'payments' },
      incidentId: state.incidentId,
      from: 'inactive',
      to: state.status,
      evidence: state.evidence,
      ruleSetVersion: 'r-1',
      ...(m.context ? { context: m.context } : {}),
      ...(m.groupBy ? { groupBy: m.groupBy } : {}),
    };
  }

  tick(now: number, looks: Look[]) {
    const transitions: AlertTransition[] = [];
    for (const l of looks) {
      const rule = l.rule ?? RULE;
      const segment = l.segment ?? null;
      const key = alertKey(rule, segment);
      this.meta.set(key, l);
      const step = stepAlert(
        this.states.get(key),
        rule,
        segment,
        { condition: l.breach ? 'breach' : 'ok', evidence: evidence(l.change ?? 0.3, now) },
        now,
        { forMs: 0, resolveAfterMs: 5 * MIN },
      );
      this.states.set(key, step.next);
      if (step.transition) transitions.push(this.alertOf(key, step.next, step.transition));
    }
    const plan = planDeliveries({
      now,
      states: this.states,
      transitions,
      silences: this.silences,
      receivers: this.receivers,
      groups: this.groups,
      describe: (k, s) => (this.meta.has(k) ? this.alertOf(k, s, 'firing') : undefined),
    });
    // What the fenced commit does with the group writes.
    for (const w of plan.groupWrites) {
      if (w.value === '') this.groups.delete(w.field);
      else this.groups.set(w.field, JSON.parse(w.value) as GroupState);
    }
    expect([...this.groups.keys()].sort()).toEqual([...plan.groups.keys()].sort());
    return { plan, jobs: plan.jobs.map((j) => `${j.event}→${j.receiver}`), raw: plan.jobs };
  }
}

const funnelWide: Look = { breach: true };
const stripe: Look = { segment: { dimension: 'payment_provider', value: 'stripe' }, breach: true, change: 0.8 };
const ios: Look = { segment: { dimension: 'platform', value: 'ios' }, breach: true, change: 0.35 };
const ok = (l: Look): Look => ({ ...l, breach: false });

function members(job: DeliveryJob): string[] {
  return job.group!.members.map((m) => `${m.rule}${m.segment ? `[${m.segment}]` : ''}:${m.status}`);
}

describe('planDeliveries: incident groups', () => {
  it('a provider outage (funnel-wide, provider segment, two rules) waits group_wait, then pages once', () => {
    const w = new World();
    const pay = { ...stripe, rule: PAY };
    expect(w.tick(T0, [funnelWide, stripe, pay, { rule: PAY, breach: true }]).jobs).toEqual([]);
    // The next evaluation is past group_wait (30 s): one trigger per receiver, with every member.
    const t1 = w.tick(T0 + MIN, [funnelWide, stripe, pay, { rule: PAY, breach: true }]);
    expect(t1.jobs.sort()).toEqual(['firing→pagerduty-checkout', 'firing→slack-payments']);
    const job = t1.raw[0]!;
    expect(job.group!.members).toHaveLength(4);
    // Worst first: the stripe segments' drops are the largest.
    expect(job.group!.members[0]!.segment).toBe('payment_provider=stripe');
    expect(job.alert.segment).toEqual(stripe.segment);
    expect(job.id).toBe(`${job.group!.id}/firing/${job.receiver}`);
    // Nothing new: nothing sent.
    expect(w.tick(T0 + 2 * MIN, [funnelWide, stripe, pay, { rule: PAY, breach: true }]).jobs).toEqual([]);
  });

  it('a member joining is an update at the next group_interval, not before, and never a second trigger', () => {
    const w = new World();
    w.tick(T0, [funnelWide]);
    w.tick(T0 + MIN, [funnelWide]);
    expect(w.tick(T0 + 2 * MIN, [funnelWide, ios]).jobs).toEqual([]);
    expect(w.tick(T0 + 5 * MIN, [funnelWide, ios]).jobs).toEqual([]);
    const t = w.tick(T0 + 6 * MIN, [funnelWide, ios]);
    expect(t.jobs.sort()).toEqual(['updated→pagerduty-checkout', 'updated→slack-payments']);
    expect(t.raw[0]!.group!.joined).toEqual([alertKey(RULE, ios.segment!)]);
    expect(t.raw[0]!.group!.severityRose).toBe(false);
  });

  it('a member resolving alone updates the group; the last one resolving resolves it, once per receiver', () => {
    const w = new World();
    w.tick(T0, [funnelWide, ios]);
    expect(w.tick(T0 + MIN, [funnelWide, ios]).jobs).toHaveLength(2);
    // ios recovers (resolve_after 5 min), the funnel-wide drop goes on.
    const upd: DeliveryJob[] = [];
    for (let m = 2; m <= 8; m++) upd.push(...w.tick(T0 + m * MIN, [funnelWide, ok(ios)]).raw);
    expect(upd.map((j) => `${j.event}→${j.receiver}`).sort()).toEqual([
      'updated→pagerduty-checkout',
      'updated→slack-payments',
    ]);
    expect(members(upd[0]!)).toEqual([`${RULE}:firing`, `${RULE}[platform=ios]:resolved`]);
    expect(upd[0]!.group!.left).toEqual([alertKey(RULE, ios.segment!)]);
    const all: string[] = [];
    for (let m = 9; m <= 30; m++) all.push(...w.tick(T0 + m * MIN, [ok(funnelWide), ok(ios)]).jobs);
    expect(all.sort()).toEqual(['resolved→pagerduty-checkout', 'resolved→slack-payments']);
    expect(w.groups.size).toBe(0);
  });

  it('a group whose members all resolve within group_wait sends nothing', () => {
    const w = new World();
    w.receivers.set('slack-payments', { ...DEFAULT_GROUPING, groupWaitMs: 10 * MIN });
    w.notify = ['slack-payments'];
    w.tick(T0, [funnelWide]);
    const jobs: string[] = [];
    for (let m = 1; m <= 12; m++) jobs.push(...w.tick(T0 + m * MIN, [ok(funnelWide)]).jobs);
    expect(jobs).toEqual([]);
    expect(w.groups.size).toBe(0);
  });

  it('one group per funnel by default; group_by [...] makes each alert its own group', () => {
    const w = new World();
    w.receivers.set('slack-payments', { ...DEFAULT_GROUPING, groupBy: ['...'] });
    const other = { breach: true, funnel: 'signup', rule: 'signup-drop' };
    w.tick(T0, [funnelWide, ios, other]);
    const t = w.tick(T0 + MIN, [funnelWide, ios, other]);
    const count = (r: string) => t.raw.filter((j) => j.receiver === r && j.event === 'firing').length;
    expect(count('pagerduty-checkout')).toBe(2); // checkout and signup
    expect(count('slack-payments')).toBe(3);
  });

  it("a rule's own group_by overrides the receivers' for its alerts", () => {
    const w = new World();
    w.notify = ['slack-payments'];
    const own = { rule: PAY, breach: true, groupBy: ['funnel', 'rule'] };
    w.tick(T0, [funnelWide, ios, own]);
    const t = w.tick(T0 + MIN, [funnelWide, ios, own]);
    expect(t.raw.map((j) => j.group!.members.map((m) => m.rule).join(',')).sort()).toEqual([`${RULE},${RULE}`, PAY]);
  });

  it('the worst severity rising marks the update so PagerDuty triggers again', () => {
    const w = new World();
    const warn = { ...funnelWide, severity: 'warning' as const };
    w.tick(T0, [warn]);
    w.tick(T0 + MIN, [warn]);
    const crit = { rule: PAY, breach: true, severity: 'critical' as const };
    w.tick(T0 + 2 * MIN, [warn, crit]);
    const t = w.tick(T0 + 6 * MIN, [warn, crit]);
    expect(t.raw.map((j) => j.group!.severityRose)).toEqual([true, true]);
  });

  it('a material worsening of the worst member is an update; a reminder comes every repeat_interval', () => {
    const w = new World();
    w.receivers.set('slack-payments', { ...DEFAULT_GROUPING, repeatIntervalMs: 60 * MIN });
    w.notify = ['slack-payments'];
    w.tick(T0, [{ ...funnelWide, change: 0.12 }]);
    w.tick(T0 + MIN, [{ ...funnelWide, change: 0.12 }]);
    expect(w.tick(T0 + 6 * MIN, [{ ...funnelWide, change: 0.14 }]).jobs).toEqual([]);
    expect(w.tick(T0 + 7 * MIN, [{ ...funnelWide, change: 0.3 }]).jobs).toEqual(['updated→slack-payments']);
    const later: string[] = [];
    for (let m = 8; m <= 67; m++) later.push(...w.tick(T0 + m * MIN, [{ ...funnelWide, change: 0.3 }]).jobs);
    expect(later).toEqual(['reminder→slack-payments']);
  });

  it('a new incident after the group resolved opens a new group with a new id', () => {
    const w = new World();
    w.notify = ['slack-payments'];
    w.tick(T0, [funnelWide]);
    const first = w.tick(T0 + MIN, [funnelWide]).raw[0]!.group!.id;
    for (let m = 2; m <= 20; m++) w.tick(T0 + m * MIN, [ok(funnelWide)]);
    w.tick(T0 + 30 * MIN, [funnelWide]);
    const second = w.tick(T0 + 31 * MIN, [funnelWide]).raw[0]!;
    expect(second.event).toBe('firing');
    expect(second.group!.id).not.toBe(first);
  });
});

describe('planDeliveries: silences', () => {
  const silence = (matchers: Silence['matchers']): Silence => ({
    id: `s-${matchers.map((m) => m.value).join('-')}`,
    matchers,
    startsAt: T0 - MIN,
    endsAt: T0 + 600 * MIN,
    createdBy: 'ana',
    comment: 'maintenance',
    createdAt: T0 - MIN,
  });

  it('a silenced alert does not join the group of the receiver it mutes; the others page', () => {
    const w = new World();
    w.silences = [silence([{ name: 'receiver', value: 'pagerduty-checkout', op: '=' }])];
    w.tick(T0, [funnelWide]);
    const t = w.tick(T0 + MIN, [funnelWide]);
    expect(t.jobs).toEqual(['firing→slack-payments']);
    expect(t.plan.notes.map((n) => n.kind)).not.toContain('unknown_receiver');
  });

  it('a silence created after the trigger never keeps the incident open: the resolve is sent', () => {
    const w = new World();
    w.tick(T0, [funnelWide]);
    w.tick(T0 + MIN, [funnelWide]);
    w.silences = [silence([{ name: 'funnel', value: 'checkout', op: '=' }])];
    const jobs: string[] = [];
    for (let m = 2; m <= 30; m++) jobs.push(...w.tick(T0 + m * MIN, [ok(funnelWide)]).jobs);
    expect(jobs.sort()).toEqual(['resolved→pagerduty-checkout', 'resolved→slack-payments']);
  });

  it('when a silence ends while the alert fires, the alert is paged then', () => {
    const w = new World();
    w.notify = ['slack-payments'];
    w.silences = [{ ...silence([{ name: 'funnel', value: 'checkout', op: '=' }]), endsAt: T0 + 5 * MIN }];
    const jobs: string[] = [];
    for (let m = 0; m <= 4; m++) jobs.push(...w.tick(T0 + m * MIN, [funnelWide]).jobs);
    expect(jobs).toEqual([]);
    w.tick(T0 + 5 * MIN, [funnelWide]);
    expect(w.tick(T0 + 6 * MIN, [funnelWide]).jobs).toEqual(['firing→slack-payments']);
  });
});

describe('planDeliveries: inhibition cannot hide a real drop', () => {
  const iosExplained: Look = { ...ios, context: localised('payment_provider', 'stripe') };

  it('a segment explained by another segment that fires and pages the same receiver is held back', () => {
    const w = new World();
    w.tick(T0, [stripe, iosExplained]);
    const t = w.tick(T0 + MIN, [stripe, iosExplained]);
    expect(members(t.raw[0]!)).toEqual([`${RULE}[payment_provider=stripe]:firing`]);
    // Reported once, when it fired, not at every evaluation.
    expect(t.plan.notes).toEqual([]);
  });

  it('the explaining alert is not firing: the segment is delivered (today it was held back for the incident)', () => {
    const w = new World();
    w.tick(T0, [iosExplained]);
    const t = w.tick(T0 + MIN, [iosExplained]);
    expect(t.jobs.sort()).toEqual(['firing→pagerduty-checkout', 'firing→slack-payments']);
  });

  it('when the explaining alert resolves, the held-back alert still firing is delivered', () => {
    const w = new World();
    w.notify = ['slack-payments'];
    w.tick(T0, [stripe, iosExplained]);
    w.tick(T0 + MIN, [stripe, iosExplained]);
    const jobs: DeliveryJob[] = [];
    for (let m = 2; m <= 12; m++) jobs.push(...w.tick(T0 + m * MIN, [ok(stripe), iosExplained]).raw);
    const joined = jobs.find((j) => j.group!.joined.includes(alertKey(RULE, ios.segment!)));
    expect(joined?.event).toBe('updated');
  });

  it('an explaining alert silenced at the receiver does not hold the other back there', () => {
    const w = new World();
    w.silences = [
      {
        id: 's1',
        matchers: [
          { name: 'payment_provider', value: 'stripe', op: '=' },
          { name: 'receiver', value: 'pagerduty-checkout', op: '=' },
        ],
        startsAt: T0 - MIN,
        endsAt: T0 + 600 * MIN,
        createdBy: 'ana',
        comment: 'known',
        createdAt: T0 - MIN,
      },
    ];
    w.tick(T0, [stripe, iosExplained]);
    const t = w.tick(T0 + MIN, [stripe, iosExplained]);
    const pd = t.raw.find((j) => j.receiver === 'pagerduty-checkout')!;
    const slack = t.raw.find((j) => j.receiver === 'slack-payments')!;
    expect(members(pd)).toEqual([`${RULE}[platform=ios]:firing`]);
    expect(members(slack)).toEqual([`${RULE}[payment_provider=stripe]:firing`]);
  });

  it('an explaining alert that never pages this receiver does not hold the other back', () => {
    const w = new World();
    w.notifyOf.set(alertKey(RULE, stripe.segment!), ['slack-payments']);
    w.tick(T0, [stripe, iosExplained]);
    const t = w.tick(T0 + MIN, [stripe, iosExplained]);
    const pd = t.raw.find((j) => j.receiver === 'pagerduty-checkout')!;
    expect(members(pd)).toEqual([`${RULE}[platform=ios]:firing`]);
  });

  it('a member already notified stays when an explainer appears later (its resolve must reach the receiver)', () => {
    const w = new World();
    w.notify = ['slack-payments'];
    w.tick(T0, [iosExplained]);
    w.tick(T0 + MIN, [iosExplained]);
    w.tick(T0 + 2 * MIN, [stripe, iosExplained]);
    const t = w.tick(T0 + 6 * MIN, [stripe, iosExplained]);
    expect(members(t.raw[0]!).sort()).toEqual(
      [`${RULE}[payment_provider=stripe]:firing`, `${RULE}[platform=ios]:firing`].sort(),
    );
  });
});

describe('planDeliveries: receivers', () => {
  it('an unknown receiver is reported when the alert fires, and gets nothing', () => {
    const w = new World();
    w.notify = ['slack-payments', 'nope'];
    const t0 = w.tick(T0, [funnelWide]);
    expect(t0.plan.notes).toEqual([{ kind: 'unknown_receiver', key: RULE, receiver: 'nope' }]);
    expect(w.tick(T0 + MIN, [funnelWide]).jobs).toEqual(['firing→slack-payments']);
  });
});
