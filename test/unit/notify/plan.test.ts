/**
 * The delivery planner as a pure function: which jobs a tick makes for firing and resolved transitions and for
 * alerts still firing (late pages after a silence, worsened, reminders), and the bookkeeping it leaves in the
 * states. States come from the real state machine (stepAlert), so the incident fields are the ones the evaluator
 * commits.
 */
import { describe, expect, it } from 'vitest';
import { stepAlert } from '../../../src/engine/alert-state.js';
import { alertKey } from '../../../src/model/alert-key.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import type { Evidence } from '../../../src/model/evidence.js';
import { transitionId, type AlertTransition } from '../../../src/model/alert-transition.js';
import { planDeliveries, type PlanInput } from '../../../src/notify/plan.js';
import type { Silence } from '../../../src/notify/silences.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0);
const MIN = 60_000;
const RULE = 'checkout-completion-drop';
const RECEIVERS = new Set(['console', 'slack-payments', 'pagerduty-checkout']);

function evidence(change: number): Evidence {
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
    onset: T0 - 3 * MIN,
    evaluatedUpTo: T0,
    baseline: { kind: 'seasonal', weeksUsed: 4 },
  };
}

function alertOf(
  state: AlertState,
  kind: AlertTransition['kind'],
  notify = ['slack-payments', 'pagerduty-checkout'],
): AlertTransition {
  return {
    id: transitionId(state),
    kind,
    at: state.lastEvaluated,
    rule: state.rule,
    funnel: 'checkout',
    segment: state.segment,
    severity: 'critical',
    notify,
    labels: { team: 'payments' },
    incidentId: state.incidentId,
    from: 'inactive',
    to: state.status,
    evidence: state.evidence,
    ruleSetVersion: 'r-1',
  };
}

function silence(matchers: Silence['matchers'], from: number, to: number): Silence {
  return {
    id: `s-${matchers.map((m) => m.value).join('-')}`,
    matchers,
    startsAt: from,
    endsAt: to,
    createdBy: 'ana',
    comment: 'maintenance',
    createdAt: from,
  };
}

/** Steps one alert through a look and plans the tick, returning the committed state and the jobs. */
class Tick {
  state: AlertState | undefined;
  notify = ['slack-payments', 'pagerduty-checkout'];
  silences: Silence[] = [];

  look(now: number, condition: 'breach' | 'ok', change = 0.3) {
    const step = stepAlert(this.state, RULE, null, { condition, evidence: evidence(change) }, now, {
      forMs: 0,
      resolveAfterMs: 5 * MIN,
    });
    const key = alertKey(RULE, null);
    const transitions = step.transition ? [alertOf(step.next, step.transition, this.notify)] : [];
    const input: PlanInput = {
      now,
      states: new Map([[key, step.next]]),
      transitions,
      silences: this.silences,
      receivers: RECEIVERS,
      remindEveryMs: 4 * 60 * MIN,
      describe: (_k, s) => alertOf(s, 'firing', this.notify),
    };
    const plan = planDeliveries(input);
    this.state = plan.states.get(key) ?? step.next;
    return { plan, transition: step.transition, jobs: plan.jobs.map((j) => `${j.event}→${j.receiver}`) };
  }
}

describe('planDeliveries', () => {
  it('a firing transition queues one firing job per receiver, with stable ids, and records the notices', () => {
    const t = new Tick();
    const r = t.look(T0, 'breach');
    expect(r.transition).toBe('firing');
    expect(r.jobs).toEqual(['firing→slack-payments', 'firing→pagerduty-checkout']);
    expect(r.plan.jobs[0]!.id).toBe(`${t.state!.incidentId}/firing/slack-payments`);
    expect(r.plan.jobs[0]!.alert.evidence?.relativeChange).toBe(0.3);
    expect(t.state!.notices).toEqual({ 'slack-payments': { at: T0 }, 'pagerduty-checkout': { at: T0 } });
    expect(t.state!.announced).toEqual({ at: T0, change: 0.3 });
  });

  it('still firing with nothing new: no jobs and no state written', () => {
    const t = new Tick();
    t.look(T0, 'breach');
    const r = t.look(T0 + MIN, 'breach', 0.31);
    expect(r.jobs).toEqual([]);
    expect(r.plan.states.size).toBe(0);
  });

  it('a material worsening (half again and 10 points more) goes to every announced receiver once', () => {
    const t = new Tick();
    t.look(T0, 'breach', 0.2);
    expect(t.look(T0 + MIN, 'breach', 0.28).jobs).toEqual([]); // 1.4×: not material
    const r = t.look(T0 + 2 * MIN, 'breach', 0.32);
    expect(r.jobs).toEqual(['worsened→slack-payments', 'worsened→pagerduty-checkout']);
    expect(r.plan.jobs[0]!.id).toBe(`${t.state!.incidentId}/worsened@${T0 + 2 * MIN}/slack-payments`);
    expect(t.look(T0 + 3 * MIN, 'breach', 0.35).jobs).toEqual([]); // measured from the last announcement now
  });

  it('reminds after the interval, counted from the last announcement', () => {
    const t = new Tick();
    t.look(T0, 'breach');
    expect(t.look(T0 + 4 * 60 * MIN - MIN, 'breach').jobs).toEqual([]);
    expect(t.look(T0 + 4 * 60 * MIN, 'breach').jobs).toEqual([
      'reminder→slack-payments',
      'reminder→pagerduty-checkout',
    ]);
    expect(t.look(T0 + 4 * 60 * MIN + MIN, 'breach').jobs).toEqual([]);
    expect(t.look(T0 + 8 * 60 * MIN, 'breach').jobs).toHaveLength(2);
  });

  it('the resolve goes to every receiver that got the trigger', () => {
    const t = new Tick();
    t.look(T0, 'breach');
    t.look(T0 + MIN, 'ok');
    const r = t.look(T0 + 6 * MIN, 'ok');
    expect(r.transition).toBe('resolved');
    expect(r.jobs).toEqual(['resolved→slack-payments', 'resolved→pagerduty-checkout']);
    expect(r.plan.jobs[1]!.id).toBe(`${t.state!.incidentId}/resolved/pagerduty-checkout`);
  });

  it('a silence mutes the trigger of the receivers it matches; the resolve skips them and reaches the others', () => {
    const t = new Tick();
    t.silences = [silence([{ name: 'receiver', op: '=', value: 'pagerduty-checkout' }], T0 - MIN, T0 + 60 * MIN)];
    const fired = t.look(T0, 'breach');
    expect(fired.jobs).toEqual(['firing→slack-payments']);
    expect(fired.plan.notes).toEqual([
      { kind: 'muted', key: RULE, receiver: 'pagerduty-checkout', silence: t.silences[0]!.id },
    ]);
    t.look(T0 + MIN, 'ok');
    expect(t.look(T0 + 6 * MIN, 'ok').jobs).toEqual(['resolved→slack-payments']);
  });

  it('a silence created after the trigger mutes reminders but never the resolve', () => {
    const t = new Tick();
    t.look(T0, 'breach');
    t.silences = [silence([{ name: 'rule', op: '=', value: RULE }], T0 + MIN, T0 + 24 * 60 * MIN)];
    expect(t.look(T0 + 4 * 60 * MIN, 'breach').jobs).toEqual([]); // reminder muted
    expect(t.look(T0 + 4 * 60 * MIN + MIN, 'breach').jobs).toEqual([]); // and not sent in a burst right after
    t.look(T0 + 4 * 60 * MIN + 2 * MIN, 'ok');
    expect(t.look(T0 + 4 * 60 * MIN + 7 * MIN, 'ok').jobs).toEqual([
      'resolved→slack-payments',
      'resolved→pagerduty-checkout',
    ]);
  });

  it('when a silence ends while the alert still fires, the muted receivers are paged then', () => {
    const t = new Tick();
    t.silences = [silence([{ name: 'funnel', op: '=', value: 'checkout' }], T0 - MIN, T0 + 30 * MIN)];
    expect(t.look(T0, 'breach').jobs).toEqual([]);
    expect(t.look(T0 + 29 * MIN, 'breach').jobs).toEqual([]);
    const r = t.look(T0 + 30 * MIN, 'breach');
    expect(r.jobs).toEqual(['firing→slack-payments', 'firing→pagerduty-checkout']);
    expect(r.plan.notes.map((n) => n.kind)).toEqual(['unmuted', 'unmuted']);
    expect(t.look(T0 + 31 * MIN, 'breach').jobs).toEqual([]);
  });

  it('a receiver added to the rule mid-incident gets the trigger; an unknown one is reported, not queued', () => {
    const t = new Tick();
    t.notify = ['slack-payments', 'nowhere'];
    const r = t.look(T0, 'breach');
    expect(r.jobs).toEqual(['firing→slack-payments']);
    expect(r.plan.notes).toEqual([{ kind: 'unknown_receiver', key: RULE, receiver: 'nowhere' }]);
    t.notify = ['slack-payments', 'pagerduty-checkout'];
    expect(t.look(T0 + MIN, 'breach').jobs).toEqual(['firing→pagerduty-checkout']);
    t.look(T0 + 2 * MIN, 'ok');
    expect(t.look(T0 + 7 * MIN, 'ok').jobs).toEqual(['resolved→slack-payments', 'resolved→pagerduty-checkout']);
  });

  it('a new incident after a resolve starts fresh notices', () => {
    const t = new Tick();
    t.silences = [silence([{ name: 'receiver', op: '=', value: 'slack-payments' }], T0 - MIN, T0 + 10 * MIN)];
    t.look(T0, 'breach');
    t.look(T0 + MIN, 'ok');
    t.look(T0 + 6 * MIN, 'ok');
    const r = t.look(T0 + 20 * MIN, 'breach');
    expect(r.transition).toBe('firing');
    expect(r.jobs).toEqual(['firing→slack-payments', 'firing→pagerduty-checkout']);
    expect(t.state!.notices).toEqual({
      'slack-payments': { at: T0 + 20 * MIN },
      'pagerduty-checkout': { at: T0 + 20 * MIN },
    });
  });

  it(
    'a segment alert whose drop the drill-down places in another dimension is held back, ' + 'for the whole incident',
    () => {
      const drilldown = {
        classification: 'localised' as const,
        summary: 'payment_provider=adyen carries 100% of the deficit',
        dimensions: [
          {
            dimension: 'payment_provider',
            top: [{ value: 'adyen', expected: 100, observed: 20, deficitShare: 1, rateChanged: true }],
          },
        ],
      };
      const seg = { dimension: 'platform', value: 'ios' };
      const step = stepAlert(undefined, RULE, seg, { condition: 'breach', evidence: evidence(0.3) }, T0, {
        forMs: 0,
        resolveAfterMs: 5 * MIN,
      });
      const state = { ...step.next, context: { drilldown } };
      const key = alertKey(RULE, seg);
      const t = { ...alertOf(state, 'firing'), context: { drilldown } };
      const base = { silences: [], receivers: RECEIVERS, remindEveryMs: 60 * MIN, describe: () => t };
      const fired = planDeliveries({ ...base, now: T0, states: new Map([[key, state]]), transitions: [t] });
      expect(fired.jobs).toEqual([]);
      expect(fired.notes.map((n) => `${n.kind}:${n.silence}`)).toEqual([
        'inhibited:payment_provider=adyen',
        'inhibited:payment_provider=adyen',
      ]);
      const held = fired.states.get(key)!;
      // Still firing an hour later: no late page, no reminder.
      expect(
        planDeliveries({ ...base, now: T0 + 61 * MIN, states: new Map([[key, held]]), transitions: [] }).jobs,
      ).toEqual([]);
      // The resolve goes nowhere either.
      const resolved = { ...held, status: 'resolved' as const };
      expect(
        planDeliveries({
          ...base,
          now: T0 + 70 * MIN,
          states: new Map([[key, resolved]]),
          transitions: [{ ...t, kind: 'resolved' }],
        }).jobs,
      ).toEqual([]);
      // The same drill-down does not hold back an alert in the dimension that carries the deficit.
      const adyen = { dimension: 'payment_provider', value: 'adyen' };
      const s2 = {
        ...stepAlert(undefined, RULE, adyen, { condition: 'breach', evidence: evidence(0.3) }, T0, {
          forMs: 0,
          resolveAfterMs: 5 * MIN,
        }).next,
        context: { drilldown },
      };
      const t2 = { ...alertOf(s2, 'firing'), context: { drilldown } };
      expect(
        planDeliveries({
          ...base,
          now: T0,
          states: new Map([[alertKey(RULE, adyen), s2]]),
          transitions: [t2],
        }).jobs.map((j) => j.event),
      ).toEqual(['firing', 'firing']);
    },
  );
});
