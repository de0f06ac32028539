import { describe, expect, it } from 'vitest';
import { type GateMinute, type GateTestConfig, runGateTest } from '../../../src/gates/sequential-test.js';
import { completenessCurve, simulateRollout } from '../../../bench/gate-sim/rollout.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 7, 12, 0);

const config = (over: Partial<GateTestConfig> = {}): GateTestConfig => ({
  drop: 0.05,
  falseFail: 0.05,
  power: 0.8,
  expectedWeight: 0.1,
  warmupMs: 0,
  maxDurationMs: 240 * MIN,
  onTimeout: 'inconclusive',
  onSrm: 'hold',
  ...over,
});

/** n minutes of mature counts: canary c/cs, baseline b/bs each minute, starting at minute `from`. */
const minutes = (n: number, c: number, cs: number, b: number, bs: number, from = 0): GateMinute[] =>
  Array.from({ length: n }, (_, i) => ({
    start: T0 + (from + i) * MIN,
    canary: { trials: c, successes: cs },
    baseline: { trials: b, successes: bs },
  }));

describe('runGateTest: boundary cases', () => {
  it('no data: inconclusive, no_data, nulls', () => {
    const r = runGateTest([], config());
    expect(r).toMatchObject({ verdict: 'inconclusive', reason: 'no_data', minutesUsed: 0, minutesToDecision: null });
    expect(r.canary.rate).toBeNull();
    expect(r.effect.estimate).toBeNull();
    expect(r.srm.pValue).toBeNull();
    expect(r.explanation).toMatch(/No data/);
  });

  it('warm-up only: every minute excluded, warming_up', () => {
    const r = runGateTest(minutes(3, 100, 60, 900, 540), config({ warmupMs: 5 * MIN }));
    expect(r).toMatchObject({
      verdict: 'inconclusive',
      reason: 'warming_up',
      warmupExcludedMinutes: 3,
      minutesUsed: 0,
    });
    expect(r.explanation).toMatch(/Warming up/);
  });

  it('warm-up minutes do not count: a broken first minutes are ignored', () => {
    const data = [...minutes(5, 100, 0, 900, 540), ...minutes(3, 100, 60, 900, 540, 5)];
    const r = runGateTest(data, config({ warmupMs: 5 * MIN }));
    expect(r.warmupExcludedMinutes).toBe(5);
    expect(r.verdict).not.toBe('fail');
    expect(r.canary.trials).toBe(300);
  });

  it('a canary with no successes at all fails within a minute or two and its rate is 0', () => {
    const r = runGateTest(minutes(3, 100, 0, 900, 540), config());
    expect(r.verdict).toBe('fail');
    expect(r.reason).toBe('harm_established');
    expect(r.decidedAt).toBeLessThanOrEqual(T0 + 2 * MIN);
    expect(r.canary.rate).toBe(0);
    expect(r.effect.upper!).toBeLessThan(0);
  });

  it('one arm empty: collecting, no rates compared, no crash', () => {
    const r = runGateTest(minutes(10, 0, 0, 900, 540), config({ expectedWeight: undefined }));
    expect(r).toMatchObject({ verdict: 'inconclusive', reason: 'collecting' });
    expect(r.canary.rate).toBeNull();
    expect(r.baseline.rate).toBeCloseTo(0.6, 12);
    expect(r.effect.estimate).toBeNull();
    expect(r.explanation).toMatch(/not enough counts/);
  });

  it('huge counts stay finite and decide at once; a clearly worse canary fails even below the harm', () => {
    const r = runGateTest(minutes(2, 1e9, 0.6e9, 9e9, 5.4e9), config());
    expect(r.verdict).toBe('pass');
    expect(Number.isFinite(r.timeline[0]!.passEvidence)).toBe(true);
    expect(r.effect.lower!).toBeGreaterThan(-0.001);
    const bad = runGateTest(minutes(2, 1e9, 0.59e9, 9e9, 5.4e9), config());
    expect(bad.verdict).toBe('fail');
    expect(bad.effect.estimate!).toBeCloseTo(0.59 / 0.6 - 1, 9);
  });

  it('missing minutes count as zero and duplicate minutes add up', () => {
    const gap = [...minutes(3, 100, 60, 900, 540), ...minutes(3, 100, 60, 900, 540, 10)];
    const r = runGateTest(gap, config());
    expect(r.timeline.length + r.warmupExcludedMinutes).toBeGreaterThanOrEqual(r.minutesUsed);
    expect(r.canary.trials).toBeLessThanOrEqual(600);
    const dup = runGateTest([...minutes(1, 50, 30, 450, 270), ...minutes(1, 50, 30, 450, 270)], config());
    expect(dup.canary.trials).toBe(100);
    expect(dup.minutesUsed).toBe(1);
  });

  it('rejects a bad configuration with a clear message', () => {
    expect(() => runGateTest([], config({ drop: 0 }))).toThrow(/drop must be in \(0, 1\)/);
    expect(() => runGateTest([], config({ power: 0.3 }))).toThrow(/power/);
    expect(() => runGateTest([], config({ expectedWeight: 1.5 }))).toThrow(/expectedWeight/);
  });
});

describe('runGateTest: decisions', () => {
  it('a healthy canary passes; the bounds agree with the verdict (lower > −drop)', () => {
    const r = runGateTest(minutes(60, 100, 60, 900, 540), config());
    expect(r.verdict).toBe('pass');
    expect(r.reason).toBe('harm_ruled_out');
    expect(r.effect.lower!).toBeGreaterThan(-0.05);
    expect(r.effect.upper!).toBeGreaterThan(0);
    expect(r.minutesToDecision).toBe(0);
    expect(r.explanation).toMatch(/^Pass: .*a drop of 5% or more is ruled out after \d+ minutes of data\.$/);
  });

  it('a 10 % drop fails; upper bound < 0; counts are those at the decision', () => {
    const data = minutes(60, 100, 54, 900, 540);
    const r = runGateTest(data, config());
    expect(r.verdict).toBe('fail');
    expect(r.effect.upper!).toBeLessThan(0);
    expect(r.effect.estimate!).toBeCloseTo(-0.1, 9);
    const mins = (r.decidedAt! - T0) / MIN;
    expect(r.minutesUsed).toBe(mins);
    expect(r.canary.trials).toBe(100 * mins);
    expect(r.explanation).toMatch(/^Fail: the canary converts 54\.0% against the baseline's 60\.0%/);
  });

  it('decisions are sticky: a fail stays a fail when healthy minutes follow', () => {
    const bad = minutes(30, 100, 45, 900, 540);
    const first = runGateTest(bad, config());
    expect(first.verdict).toBe('fail');
    const later = runGateTest([...bad, ...minutes(200, 100, 70, 900, 540, 30)], config());
    expect(later.verdict).toBe('fail');
    expect(later.decidedAt).toBe(first.decidedAt);
    expect(later.timeline.every((l) => l.at < first.decidedAt! || l.verdict === 'fail')).toBe(true);
  });

  it('an SRM found after a pass withdraws it (hold) or turns it into a fail (onSrm fail)', () => {
    const good = minutes(40, 100, 60, 900, 540);
    expect(runGateTest(good, config()).verdict).toBe('pass');
    // Then the router sends the canary twice its share.
    const skewed = [...good, ...minutes(30, 200, 120, 800, 480, 40)];
    const held = runGateTest(skewed, config());
    expect(held).toMatchObject({ verdict: 'inconclusive', reason: 'srm' });
    expect(held.decidedAt).toBeUndefined();
    expect(held.srm.mismatch).toBe(true);
    expect(held.srm.pValue!).toBeLessThan(0.001);
    expect(held.explanation).toMatch(/sample-ratio mismatch.*earlier pass is withdrawn/);
    const failed = runGateTest(skewed, config({ onSrm: 'fail' }));
    expect(failed).toMatchObject({ verdict: 'fail', reason: 'srm' });
  });

  it('a mismatch from the start never passes, however healthy the canary', () => {
    const r = runGateTest(minutes(200, 200, 130, 800, 480), config());
    expect(r.verdict).toBe('inconclusive');
    expect(r.reason).toBe('srm');
    expect(r.timeline.some((l) => l.verdict === 'pass')).toBe(false);
    expect(r.srm.observedWeight).toBeCloseTo(0.2, 12);
  });

  it('without expectedWeight there is no SRM check', () => {
    const r = runGateTest(minutes(5, 200, 120, 800, 480), config({ expectedWeight: undefined }));
    expect(r.srm).toEqual({ checked: false, observedWeight: 0.2, pValue: null, mismatch: false });
  });

  it('onTimeout: an undecided test answers what is configured at maxDuration', () => {
    // 1 canary entry a minute at the baseline's rate: hopeless within 30 minutes.
    const thin = minutes(40, 1, 0.55, 9, 4.95);
    for (const onTimeout of ['fail', 'pass', 'inconclusive'] as const) {
      const r = runGateTest(thin, config({ maxDurationMs: 30 * MIN, onTimeout, expectedWeight: undefined }));
      expect(r.reason).toBe('timeout');
      expect(r.verdict).toBe(onTimeout);
      expect(r.minutesUsed).toBe(30);
      if (onTimeout === 'inconclusive') expect(r.decidedAt).toBeUndefined();
      else expect(r.decidedAt).toBe(T0 + 30 * MIN);
      expect(r.explanation).toMatch(
        new RegExp(`^No decision after 30 minutes .* configured to answer ${onTimeout} then`),
      );
    }
  });

  it('estimates the minutes to a decision while collecting, and the estimate is about right', () => {
    const cfg = config();
    const r = runGateTest(minutes(3, 100, 57, 900, 540), cfg);
    expect(r.verdict).toBe('inconclusive');
    expect(r.minutesToDecision).not.toBeNull();
    // Run on at the same rates: the decision comes within a factor 2 of the estimate.
    let k = 3;
    while (runGateTest(minutes(k, 100, 57, 900, 540), cfg).verdict === 'inconclusive' && k < 500) k++;
    expect(k - 3).toBeGreaterThanOrEqual(r.minutesToDecision! / 2);
    expect(k - 3).toBeLessThanOrEqual(r.minutesToDecision! * 2);
  });

  it('the result without a timeline is the same result', () => {
    const curve = completenessCurve(3);
    const data: GateMinute[] = Array.from({ length: 50 }, (_, i) => {
      const g = i >= 50 - curve.length ? curve[49 - i]! : 1;
      return {
        start: T0 + i * MIN,
        canary: { trials: 100 * g, successes: Math.round(57 * g) },
        baseline: { trials: 900 * g, successes: Math.round(540 * g) },
        canaryEntered: 100,
        baselineEntered: 900,
      };
    });
    const full = runGateTest(data, config());
    const lean = runGateTest(data, config(), { timeline: false });
    expect({ ...lean, timeline: [] }).toEqual({ ...full, timeline: [] });
    expect(full.timeline.length).toBe(50);
  });
});

describe('runGateTest on simulated rollouts (fixed seed)', () => {
  it('A/A with conversion lag: the false-fail rate over 300 rollouts asked every minute is within 5 %', () => {
    const curve = completenessCurve(3);
    const sc = { rate: 1000, weight: 0.1, drop: 0, p: 0.6, lagMean: 3, minutes: 240 };
    let fails = 0;
    let passes = 0;
    for (let i = 0; i < 300; i++) {
      const r = simulateRollout(sc, config(), curve, 4242 + i, { peek: false, kayenta: false });
      if (r.gate === 'fail') fails++;
      if (r.gate === 'pass') passes++;
    }
    expect(fails / 300).toBeLessThanOrEqual(0.05);
    expect(passes).toBeGreaterThan(270); // and healthy canaries do get promoted
  });

  it('a 20 % drop at 10 % of 1,000 a minute fails every time, within minutes', () => {
    const curve = completenessCurve(3);
    const sc = { rate: 1000, weight: 0.1, drop: 0.2, p: 0.6, lagMean: 3, minutes: 60 };
    for (let i = 0; i < 20; i++) {
      const r = simulateRollout(sc, config(), curve, 99 + i, { peek: false, kayenta: false });
      expect(r.gate).toBe('fail');
      expect(r.gateAt!).toBeLessThanOrEqual(10);
    }
  });
});
