/**
 * The alert state machine: every arrow of the table in src/engine/alert-state.ts, `for` and `resolve_after` timing
 * at the exact boundary, the zero durations, peak tracking, seq, key escaping, and continuity across a restart
 * (a state that went through JSON gives the same next step).
 */
import { describe, it, expect } from 'vitest';
import {
  stepAlert,
  type Condition,
  type Observation,
  type StateRules,
  type Step,
} from '../../../src/engine/alert-state.js';
import { alertKey, parseAlertKey } from '../../../src/model/alert-key.js';
import { isPagingTransition } from '../../../src/model/alert-transition.js';
import type { AlertState, AlertStatus } from '../../../src/model/alert-state.js';
import type { Evidence } from '../../../src/model/evidence.js';
import type { SegmentRef } from '../../../src/model/segment.js';

const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 6, 12, 0);
const RULE = 'checkout-conversion';
const SEG: SegmentRef = { dimension: 'platform', value: 'android' };
const R: StateRules = { forMs: 5 * MIN, resolveAfterMs: 10 * MIN };

/** Evidence of a drop by `relativeChange` (positive = the bad direction, as the detectors sign it). */
function ev(relativeChange: number, at = T0): Evidence {
  return {
    observed: 412,
    expected: 601,
    observedRate: 0.6 * (1 - relativeChange),
    expectedRate: 0.6,
    relativeChange,
    volume: 1000,
    windowMinutes: 15,
    statistic: 4.2,
    threshold: 3.1,
    pValue: 1e-5,
    chanceRatePerWeek: 0.1,
    onset: at - 2 * MIN,
    evaluatedUpTo: at,
    baseline: { kind: 'seasonal', weeksUsed: 4 },
  };
}

function obs(condition: Condition, e?: Evidence): Observation {
  return e ? { condition, evidence: e } : { condition };
}

/** Feeds observations one minute apart from `start`, returning every step. */
function run(
  prev: AlertState | undefined,
  conds: Condition[],
  start = T0,
  r = R,
  seg: SegmentRef | null = null,
): Step[] {
  const out: Step[] = [];
  let s = prev;
  conds.forEach((c, i) => {
    const step = stepAlert(s, RULE, seg, obs(c, ev(c === 'breach' ? 0.3 : 0.01, start + i * MIN)), start + i * MIN, r);
    out.push(step);
    s = step.next;
  });
  return out;
}

function last(steps: Step[]): Step {
  return steps[steps.length - 1]!;
}

/** A state in `status`, reached by real steps (so its fields are the machine's own). */
function stateIn(status: AlertStatus, r = R): AlertState {
  switch (status) {
    case 'inactive':
      return last(run(undefined, ['ok'])).next;
    case 'insufficient':
      return last(run(undefined, ['insufficient'])).next;
    case 'pending':
      return last(run(undefined, ['breach'])).next;
    case 'firing':
      return last(run(undefined, ['breach'], T0, { ...r, forMs: 0 })).next;
    case 'resolved':
      return last(
        run(last(run(undefined, ['breach'], T0, { forMs: 0, resolveAfterMs: 0 })).next, ['ok'], T0 + MIN, {
          forMs: 0,
          resolveAfterMs: 0,
        }),
      ).next;
  }
}

describe('stepAlert: every arrow', () => {
  const NOW = T0 + 30 * MIN;
  const cases: [AlertStatus, Condition, AlertStatus, string | null][] = [
    ['inactive', 'breach', 'pending', 'pending'],
    ['inactive', 'ok', 'inactive', null],
    ['inactive', 'insufficient', 'insufficient', 'insufficient'],
    ['inactive', 'inhibited', 'inactive', null],
    ['resolved', 'breach', 'pending', 'pending'],
    ['resolved', 'ok', 'inactive', null],
    ['resolved', 'insufficient', 'insufficient', 'insufficient'],
    ['resolved', 'inhibited', 'resolved', null],
    ['insufficient', 'breach', 'pending', 'pending'],
    ['insufficient', 'ok', 'inactive', 'recovered_data'],
    ['insufficient', 'insufficient', 'insufficient', null],
    ['insufficient', 'inhibited', 'insufficient', null],
    ['pending', 'breach', 'firing', 'firing'], // NOW is long past pendingSince + for
    ['pending', 'ok', 'inactive', null],
    ['pending', 'insufficient', 'pending', null],
    ['pending', 'inhibited', 'pending', null],
    ['firing', 'breach', 'firing', null],
    ['firing', 'ok', 'firing', null], // starts the resolve countdown
    ['firing', 'insufficient', 'firing', null],
    ['firing', 'inhibited', 'firing', null],
  ];
  it.each(cases)('%s + %s → %s (transition %s)', (from, cond, to, transition) => {
    const prev = stateIn(from);
    const step = stepAlert(prev, RULE, null, obs(cond, ev(cond === 'breach' ? 0.3 : 0)), NOW, R);
    expect(step.next.status).toBe(to);
    expect(step.transition).toBe(transition);
    expect(step.next.seq).toBe(prev.seq + (transition ? 1 : 0));
    expect(step.next.since).toBe(to === from ? prev.since : NOW);
    expect(step.next.lastEvaluated).toBe(NOW);
  });

  it('a key never seen starts inactive', () => {
    const s = stepAlert(undefined, RULE, SEG, obs('ok'), T0, R);
    expect(s).toEqual({
      next: { rule: RULE, segment: SEG, status: 'inactive', since: T0, seq: 0, lastEvaluated: T0 },
      transition: null,
    });
  });

  it('leaving resolved ends the incident: its fields go', () => {
    const resolved = stateIn('resolved');
    expect(resolved).toMatchObject({ incidentId: expect.any(String), firedAt: T0, resolvedAt: T0 + MIN });
    for (const cond of ['ok', 'insufficient', 'breach'] as const) {
      const next = stepAlert(resolved, RULE, null, obs(cond), T0 + 2 * MIN, R).next;
      expect(next.incidentId).toBeUndefined();
      expect(next.firedAt).toBeUndefined();
      expect(next.resolvedAt).toBeUndefined();
      expect(next.peak).toBeUndefined();
    }
  });

  it('a cancelled pending forgets when it began, so the next breach starts a new pending period', () => {
    const steps = run(undefined, ['breach', 'breach', 'ok', 'breach']);
    expect(steps.map((s) => s.transition)).toEqual(['pending', null, null, 'pending']);
    expect(steps[2]!.next.pendingSince).toBeUndefined();
    expect(last(steps).next.pendingSince).toBe(T0 + 3 * MIN);
  });
});

describe('stepAlert: timing', () => {
  it('pending fires on the first breach look at exactly pendingSince + for (≥), not a millisecond before', () => {
    const pending = stepAlert(undefined, RULE, null, obs('breach', ev(0.3)), T0, R).next;
    expect(pending).toMatchObject({ status: 'pending', pendingSince: T0 });
    const early = stepAlert(pending, RULE, null, obs('breach', ev(0.3)), T0 + R.forMs - 1, R);
    expect(early.next.status).toBe('pending');
    expect(early.transition).toBeNull();
    const onTime = stepAlert(early.next, RULE, null, obs('breach', ev(0.3)), T0 + R.forMs, R);
    expect(onTime.transition).toBe('firing');
    expect(onTime.next).toMatchObject({
      status: 'firing',
      since: T0 + R.forMs,
      firedAt: T0 + R.forMs,
      pendingSince: T0,
      incidentId: `${RULE}@${T0 + R.forMs}`,
      seq: 2,
    });
  });

  it(
    'pending does not fire on an insufficient or inhibited look even when for has passed; ' + 'the next breach fires',
    () => {
      const pending = stepAlert(undefined, RULE, null, obs('breach'), T0, R).next;
      for (const c of ['insufficient', 'inhibited'] as const) {
        const held = stepAlert(pending, RULE, null, obs(c), T0 + R.forMs + MIN, R);
        expect(held.next).toMatchObject({ status: 'pending', pendingSince: T0 });
        expect(held.transition).toBeNull();
        const fired = stepAlert(held.next, RULE, null, obs('breach'), T0 + R.forMs + 2 * MIN, R);
        expect(fired.transition).toBe('firing');
      }
    },
  );

  it('forMs = 0 fires on the first breach, from inactive, insufficient and resolved', () => {
    const r = { forMs: 0, resolveAfterMs: R.resolveAfterMs };
    for (const from of ['inactive', 'insufficient', 'resolved'] as const) {
      const prev = stateIn(from);
      const s = stepAlert(prev, RULE, SEG, obs('breach', ev(0.4)), T0 + 20 * MIN, r);
      expect(s.transition).toBe('firing');
      expect(s.next).toMatchObject({
        status: 'firing',
        pendingSince: T0 + 20 * MIN,
        firedAt: T0 + 20 * MIN,
        seq: prev.seq + 1,
        incidentId: `${RULE}|platform=android@${T0 + 20 * MIN}`,
        peak: ev(0.4),
      });
      expect(s.next.resolvedAt).toBeUndefined();
    }
  });

  it('firing resolves once it has been ok for resolve_after (≥); an ok look starts the countdown once', () => {
    const firing = stateIn('firing');
    const t1 = T0 + MIN;
    const first = stepAlert(firing, RULE, null, obs('ok'), t1, R);
    expect(first.next).toMatchObject({ status: 'firing', okSince: t1 });
    const mid = stepAlert(first.next, RULE, null, obs('ok'), t1 + R.resolveAfterMs - 1, R);
    expect(mid.next).toMatchObject({ status: 'firing', okSince: t1 });
    expect(mid.transition).toBeNull();
    const done = stepAlert(mid.next, RULE, null, obs('ok'), t1 + R.resolveAfterMs, R);
    expect(done.transition).toBe('resolved');
    expect(done.next).toMatchObject({
      status: 'resolved',
      since: t1 + R.resolveAfterMs,
      resolvedAt: t1 + R.resolveAfterMs,
      firedAt: T0,
      seq: firing.seq + 1,
    });
    expect(done.next.okSince).toBeUndefined();
    expect(done.next.incidentId).toBe(firing.incidentId);
  });

  it('a breach while counting down clears okSince: the countdown starts again', () => {
    const firing = stateIn('firing');
    const steps = run(firing, ['ok', 'ok', 'breach', 'ok'], T0 + MIN);
    expect(steps[1]!.next.okSince).toBe(T0 + MIN);
    expect(steps[2]!.next.okSince).toBeUndefined();
    expect(steps[3]!.next.okSince).toBe(T0 + 4 * MIN);
  });

  it(
    'insufficient and inhibited looks neither resolve nor keep the countdown: ' + 'it restarts after the data is back',
    () => {
      const r = { forMs: 0, resolveAfterMs: 2 * MIN };
      const firing = stateIn('firing', r);
      // ok at +1, no data at +2 and +3 (the countdown would have ended at +3), ok again at +4: counting from +4.
      const steps = run(firing, ['ok', 'insufficient', 'inhibited', 'ok', 'ok', 'ok'], T0 + MIN, r);
      expect(steps.map((s) => s.next.status)).toEqual(['firing', 'firing', 'firing', 'firing', 'firing', 'resolved']);
      expect(steps[3]!.next.okSince).toBe(T0 + 4 * MIN);
      expect(last(steps).next.resolvedAt).toBe(T0 + 6 * MIN);
    },
  );

  it('resolveAfterMs = 0 resolves on the first ok look', () => {
    const r = { forMs: R.forMs, resolveAfterMs: 0 };
    const s = stepAlert(stateIn('firing', r), RULE, null, obs('ok'), T0 + MIN, r);
    expect(s.transition).toBe('resolved');
    expect(s.next.resolvedAt).toBe(T0 + MIN);
  });
});

describe('stepAlert: evidence, peak and seq', () => {
  it('stores evidence on every look that has some and keeps the last one otherwise', () => {
    const a = stepAlert(undefined, RULE, null, obs('ok', ev(0.01)), T0, R).next;
    expect(a.evidence).toEqual(ev(0.01));
    const b = stepAlert(a, RULE, null, obs('inhibited'), T0 + MIN, R).next;
    expect(b.evidence).toEqual(ev(0.01));
    const c = stepAlert(b, RULE, null, obs('insufficient', ev(0.5, T0 + 2 * MIN)), T0 + 2 * MIN, R).next;
    expect(c.evidence).toEqual(ev(0.5, T0 + 2 * MIN));
  });

  it(
    'peak is the evidence of the largest relativeChange ' + '(positive = the bad direction) on a breach while firing',
    () => {
      const r = { forMs: 0, resolveAfterMs: 0 };
      let s = stepAlert(undefined, RULE, null, obs('breach', ev(0.2)), T0, r).next;
      expect(s.peak).toEqual(ev(0.2));
      s = stepAlert(s, RULE, null, obs('breach', ev(0.35, T0 + MIN)), T0 + MIN, r).next;
      expect(s.peak).toEqual(ev(0.35, T0 + MIN));
      s = stepAlert(s, RULE, null, obs('breach', ev(0.25, T0 + 2 * MIN)), T0 + 2 * MIN, r).next;
      expect(s.peak).toEqual(ev(0.35, T0 + MIN));
      expect(s.evidence).toEqual(ev(0.25, T0 + 2 * MIN));
      // a breach look without evidence keeps the peak
      s = stepAlert(s, RULE, null, obs('breach'), T0 + 3 * MIN, r).next;
      expect(s.peak).toEqual(ev(0.35, T0 + MIN));
      // a wild number on a no-data look is not a peak
      s = stepAlert(s, RULE, null, obs('insufficient', ev(0.9, T0 + 4 * MIN)), T0 + 4 * MIN, r).next;
      expect(s.peak).toEqual(ev(0.35, T0 + MIN));
      // a peak restored from JSON with a non-finite change (stored as null) is beaten by any real one
      const restored = JSON.parse(JSON.stringify({ ...s, peak: ev(Infinity) })) as AlertState;
      expect(restored.peak?.relativeChange).toBeNull();
      expect(stepAlert(restored, RULE, null, obs('breach', ev(0.1, T0 + 5 * MIN)), T0 + 5 * MIN, r).next.peak).toEqual(
        ev(0.1, T0 + 5 * MIN),
      );
      // resolved keeps the incident's peak for the resolve notification
      s = stepAlert(s, RULE, null, obs('ok', ev(0, T0 + 5 * MIN)), T0 + 5 * MIN, r).next;
      expect(s).toMatchObject({ status: 'resolved', peak: ev(0.35, T0 + MIN) });
    },
  );

  it('seq counts the emitted transitions across incidents, and each incident gets its own id', () => {
    const conds: Condition[] = [
      'insufficient',
      'ok',
      'breach',
      'breach',
      'breach',
      'breach',
      'breach',
      'breach',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'breach',
      'breach',
      'breach',
      'breach',
      'breach',
      'breach',
    ];
    const steps = run(undefined, conds);
    const kinds = steps.map((s) => s.transition).filter((k) => k !== null);
    expect(kinds).toEqual(['insufficient', 'recovered_data', 'pending', 'firing', 'resolved', 'pending', 'firing']);
    expect(last(steps).next.seq).toBe(7);
    const ids = steps.filter((s) => s.transition === 'firing').map((s) => s.next.incidentId);
    expect(ids).toEqual([`${RULE}@${T0 + 7 * MIN}`, `${RULE}@${T0 + 25 * MIN}`]);
    expect(kinds.filter(isPagingTransition)).toEqual(['firing', 'resolved', 'firing']);
  });
});

describe('restart continuity', () => {
  it(
    'a state that went through JSON gives the same next step as the one in memory, ' + 'at every point of an incident',
    () => {
      const conds: Condition[] = [
        'ok',
        'insufficient',
        'breach',
        'inhibited',
        'breach',
        'breach',
        'breach',
        'breach',
        'breach',
        'ok',
        'insufficient',
        'ok',
        'breach',
        'ok',
        'ok',
        'ok',
        'ok',
        'ok',
        'ok',
        'ok',
        'ok',
        'ok',
        'ok',
        'ok',
        'ok',
        'ok',
      ];
      let mem: AlertState | undefined;
      const seen = new Set<AlertStatus>();
      conds.forEach((c, i) => {
        const now = T0 + i * MIN;
        const o = obs(c, c === 'inhibited' ? undefined : ev(c === 'breach' ? 0.3 + ((i * 7) % 5) / 100 : 0.01, now));
        const restored = mem === undefined ? undefined : (JSON.parse(JSON.stringify(mem)) as AlertState);
        const a = stepAlert(mem, RULE, SEG, o, now, R);
        const b = stepAlert(restored, RULE, SEG, o, now, R);
        expect(b).toStrictEqual(a);
        expect(JSON.parse(JSON.stringify(a.next))).toStrictEqual(a.next);
        mem = a.next;
        seen.add(mem.status);
      });
      expect([...seen].sort()).toEqual(['firing', 'inactive', 'insufficient', 'pending', 'resolved']);
    },
  );
});

describe('alertKey', () => {
  it('is the rule name for the whole funnel and rule|dimension=value for a segment', () => {
    expect(alertKey('checkout-conversion', null)).toBe('checkout-conversion');
    expect(alertKey('checkout-conversion', SEG)).toBe('checkout-conversion|platform=android');
  });

  it('escapes the separators so different segments never share a key, and parses back', () => {
    const a = alertKey('r', { dimension: 'd', value: 'x|y=z' });
    const b = alertKey('r', { dimension: 'd', value: 'x%7Cy=z' });
    expect(a).toBe('r|d=x%7Cy%3Dz');
    expect(b).toBe('r|d=x%257Cy%3Dz');
    for (const [rule, segment] of [
      ['r', { dimension: 'd', value: 'x|y=z' }],
      ['r', { dimension: 'd', value: 'x%7Cy=z' }],
      ['checkout-conversion', null],
      ['r', { dimension: 'geo.region', value: '' }],
      ['r', { dimension: 'a=b', value: '100%' }],
    ] as const) {
      expect(parseAlertKey(alertKey(rule, segment))).toEqual({ rule, segment });
    }
    expect(parseAlertKey('a|b')).toBeUndefined();
    expect(parseAlertKey('a|b=c|d=e')).toBeUndefined();
  });
});
