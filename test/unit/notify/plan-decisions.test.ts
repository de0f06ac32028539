/**
 * The delivery planner's decisions one by one (notify/plan.ts): job ids, inhibition by the drill-down, the firing
 * announcement, resolve targets, catching up after a silence, the repeat event and its targets, note wording.
 * planDeliveries, which combines them over a tick, is covered in plan.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { AlertState } from '../../../src/model/alert-state.js';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import type { Evidence } from '../../../src/model/evidence.js';
import {
  announceFiring,
  catchUp,
  changeOf,
  explainedElsewhere,
  jobFor,
  noteMessage,
  repeatEvent,
  repeatTargets,
  resolveTargets,
  type SilenceLookup,
} from '../../../src/notify/plan.js';
import type { Silence } from '../../../src/notify/silences.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0);
const MIN = 60_000;
const KEY = 'checkout-drop';
const ALL = new Set(['console', 'slack', 'pd']);

function evidence(change: number, guard?: Evidence['guard']): Evidence {
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
    baseline: { kind: 'trailing' },
    ...(guard ? { guard } : {}),
  };
}

function alert(patch: Partial<AlertTransition> = {}): AlertTransition {
  return {
    id: `${KEY}@${T0}#1`,
    kind: 'firing',
    at: T0,
    rule: KEY,
    funnel: 'checkout',
    segment: null,
    severity: 'critical',
    notify: ['slack', 'pd'],
    labels: {},
    incidentId: `${KEY}@${T0}`,
    from: 'inactive',
    to: 'firing',
    evidence: evidence(0.3),
    ruleSetVersion: 'r-1',
    ...patch,
  };
}

const silence = (id: string): Silence => ({
  id,
  matchers: [{ name: 'receiver', value: 'pd', op: '=' }],
  startsAt: T0,
  endsAt: T0 + 60 * MIN,
  createdBy: 'ana',
  comment: 'maintenance',
  createdAt: T0,
});
const none: SilenceLookup = () => undefined;
const mutes =
  (receiver: string, id: string): SilenceLookup =>
  (r) =>
    r === receiver ? silence(id) : undefined;

const localised = (dimension: string, value: string): AlertTransition['context'] => ({
  drilldown: {
    classification: 'localised',
    summary: '',
    dimensions: [{ dimension, top: [{ value, expected: 100, observed: 10, deficitShare: 0.9, rateChanged: true }] }],
  },
});

describe('jobFor', () => {
  it('ids a job by incident, event and receiver; a repeat adds its time', () => {
    expect(jobFor(alert(), 'firing', 'slack', T0, false).id).toBe(`${KEY}@${T0}/firing/slack`);
    expect(jobFor(alert(), 'reminder', 'slack', T0 + MIN, true).id).toBe(`${KEY}@${T0}/reminder@${T0 + MIN}/slack`);
  });

  it('falls back to the alert key without an incident, and starts at attempt 0', () => {
    const j = jobFor(
      alert({ incidentId: undefined, segment: { dimension: 'platform', value: 'ios' } }),
      'resolved',
      'pd',
      T0,
      false,
    );
    expect(j).toMatchObject({
      id: `${KEY}|platform=ios/resolved/pd`,
      receiver: 'pd',
      event: 'resolved',
      createdAt: T0,
      attempt: 0,
    });
  });
});

describe('explainedElsewhere', () => {
  const seg = { dimension: 'platform', value: 'ios' };
  it('names the segment carrying the deficit in another dimension', () => {
    expect(explainedElsewhere(alert({ segment: seg, context: localised('provider', 'adyen') }))).toBe('provider=adyen');
  });

  it('is undefined for the whole funnel, the same dimension, or a drill-down that did not localise', () => {
    expect(explainedElsewhere(alert({ context: localised('provider', 'adyen') }))).toBeUndefined();
    expect(explainedElsewhere(alert({ segment: seg, context: localised('platform', 'ios') }))).toBeUndefined();
    const global = { drilldown: { classification: 'global' as const, summary: '', dimensions: [] } };
    expect(explainedElsewhere(alert({ segment: seg, context: global }))).toBeUndefined();
  });
});

describe('changeOf', () => {
  it('is the relative change, or 0 when unknown or not finite', () => {
    expect(changeOf(alert())).toBe(0.3);
    expect(changeOf(alert({ evidence: undefined }))).toBe(0);
    expect(changeOf(alert({ evidence: { ...evidence(0.3), relativeChange: Infinity } }))).toBe(0);
  });
});

describe('announceFiring', () => {
  it('pages every known receiver, mutes the silenced one and reports an unknown one', () => {
    const a = announceFiring(alert({ notify: ['slack', 'nope', 'pd'] }), KEY, ALL, mutes('pd', 's-1'), T0);
    expect(a.send).toEqual(['slack']);
    expect(a.notices).toEqual({ slack: { at: T0 }, pd: { at: T0, muted: 's-1' } });
    expect(a.notes).toEqual([
      { kind: 'unknown_receiver', key: KEY, receiver: 'nope' },
      { kind: 'muted', key: KEY, receiver: 'pd', silence: 's-1' },
    ]);
  });

  it('holds every receiver back when the drill-down places the cause elsewhere', () => {
    const t = alert({ segment: { dimension: 'platform', value: 'ios' }, context: localised('provider', 'adyen') });
    const a = announceFiring(t, KEY, ALL, none, T0);
    expect(a.send).toEqual([]);
    expect(a.notices).toEqual({
      slack: { at: T0, muted: 'inhibited:provider=adyen' },
      pd: { at: T0, muted: 'inhibited:provider=adyen' },
    });
    expect(a.notes.map((n) => n.kind)).toEqual(['inhibited', 'inhibited']);
  });
});

describe('resolveTargets', () => {
  const state = (notices?: AlertState['notices']): AlertState => ({
    rule: KEY,
    segment: null,
    status: 'resolved',
    since: T0,
    seq: 2,
    lastEvaluated: T0,
    ...(notices ? { notices } : {}),
  });
  it('is where the firing job went: not the muted or inhibited receivers', () => {
    expect(
      resolveTargets(
        state({ slack: { at: T0 }, pd: { at: T0, muted: 's-1' }, console: { at: T0, muted: 'inhibited:x=y' } }),
        alert(),
      ),
    ).toEqual(['slack']);
  });

  it("falls back to the rule's receivers for a state from before notices existed", () => {
    expect(resolveTargets(state(), alert())).toEqual(['slack', 'pd']);
  });
});

describe('catchUp', () => {
  it(
    'pages a receiver whose silence ended and one added mid-incident; ' + 'leaves announced and inhibited ones alone',
    () => {
      const prior = { slack: { at: T0 }, pd: { at: T0, muted: 's-1' }, console: { at: T0, muted: 'inhibited:x=y' } };
      const c = catchUp(
        ['slack', 'pd', 'console', 'new', 'gone'],
        prior,
        KEY,
        new Set([...ALL, 'new']),
        none,
        T0 + MIN,
      );
      expect(c.send).toEqual(['pd', 'new']);
      expect(c.changed).toBe(true);
      expect(c.notices).toEqual({ ...prior, pd: { at: T0 + MIN }, new: { at: T0 + MIN } });
      expect(c.notes).toEqual([{ kind: 'unmuted', key: KEY, receiver: 'pd', silence: 's-1' }]);
      expect(prior.pd).toEqual({ at: T0, muted: 's-1' }); // the state's notices are not mutated
    },
  );

  it('marks a receiver added under a silence muted once, and changes nothing the next time', () => {
    const first = catchUp(['pd'], {}, KEY, ALL, mutes('pd', 's-2'), T0);
    expect(first).toMatchObject({ send: [], changed: true, notices: { pd: { at: T0, muted: 's-2' } } });
    const again = catchUp(['pd'], first.notices, KEY, ALL, mutes('pd', 's-2'), T0 + MIN);
    expect(again).toMatchObject({ send: [], changed: false, notices: first.notices });
  });
});

describe('repeatEvent', () => {
  const announced = { at: T0, change: 0.12 };
  it('is worsened when the change is at least half again and 10 points more', () => {
    expect(repeatEvent(alert({ evidence: evidence(0.3) }), announced, T0 + MIN, 0)).toBe('worsened');
    expect(repeatEvent(alert({ evidence: evidence(0.21) }), announced, T0 + MIN, 0)).toBeNull(); // +9 points only
    expect(repeatEvent(alert({ evidence: evidence(0.6) }), { at: T0, change: 0.45 }, T0 + MIN, 0)).toBeNull(); // < ×1.5
  });

  it("never calls a data guard's evidence worse", () => {
    expect(repeatEvent(alert({ evidence: evidence(0.9, 'no_traffic') }), announced, T0 + MIN, 0)).toBeNull();
  });

  it('is a reminder once the interval passed, and never with reminders off', () => {
    expect(repeatEvent(alert({ evidence: evidence(0.12) }), announced, T0 + 4 * 60 * MIN, 4 * 60 * MIN)).toBe(
      'reminder',
    );
    expect(repeatEvent(alert({ evidence: evidence(0.12) }), announced, T0 + 4 * 60 * MIN - 1, 4 * 60 * MIN)).toBeNull();
    expect(repeatEvent(alert({ evidence: evidence(0.12) }), announced, T0 + 100 * 60 * MIN, 0)).toBeNull();
  });
});

describe('repeatTargets', () => {
  it('is the receivers announced before now, not muted, still configured and not silenced now', () => {
    const notices = {
      slack: { at: T0 },
      pd: { at: T0 },
      console: { at: T0, muted: 's-1' },
      fresh: { at: T0 + MIN },
      gone: { at: T0 },
    };
    expect(repeatTargets(notices, new Set(['slack', 'pd', 'console', 'fresh']), mutes('pd', 's-3'), T0 + MIN)).toEqual([
      'slack',
    ]);
  });
});

describe('noteMessage', () => {
  it('reports an unknown receiver as an error and the rest as info', () => {
    expect(noteMessage({ kind: 'unknown_receiver', key: KEY, receiver: 'x' }).level).toBe('error');
    expect(noteMessage({ kind: 'muted', key: KEY, receiver: 'x', silence: 's' })).toEqual({
      level: 'info',
      message: 'page muted by a silence',
    });
    expect(noteMessage({ kind: 'inhibited', key: KEY, receiver: 'x', silence: 'provider=adyen' }).message).toContain(
      'provider=adyen',
    );
  });
});
