import { describe, expect, it } from 'vitest';
import { cusumDelayLimit, cusumDelayLimitLagged } from '../../../src/detect/cusum-limit.js';
import { klBernoulli } from '../../../src/detect/likelihood.js';

describe('cusumDelayLimit (statistics.md §3.2)', () => {
  it('KL(0.57‖0.60) = 0.001861 nats', () => {
    expect(klBernoulli(0.57, 0.6)).toBeCloseTo(0.001861, 6);
    expect(klBernoulli(0.6, 0.57)).toBeCloseTo(0.001848, 6);
  });

  it('1,000 starts/min, 0.60 → 0.57, 1 FA/week: I = 1.861 nats/min, delay ≈ 4.73–4.75 min', () => {
    const r = cusumDelayLimit({ n: 1000, p0: 0.6, p1: 0.57, falseAlarmsPerWeek: 1, stepMinutes: 1 });
    expect(r.informationPerMinute).toBeCloseTo(1.861, 3);
    expect(r.delayMinutes).toBeGreaterThan(4.7);
    expect(r.delayMinutes).toBeLessThan(4.8);
    expect(r.arl0Minutes).toBe(10_080);
  });

  it('100/min ≈ 33–35 min; 10,000/min floors at one step (1 min)', () => {
    const low = cusumDelayLimit({ n: 100, p0: 0.6, p1: 0.57, falseAlarmsPerWeek: 1, stepMinutes: 1 });
    expect(low.delayMinutes).toBeGreaterThan(32);
    expect(low.delayMinutes).toBeLessThan(36);
    const high = cusumDelayLimit({ n: 10_000, p0: 0.6, p1: 0.57, falseAlarmsPerWeek: 1, stepMinutes: 1 });
    expect(high.delayMinutes).toBe(1);
  });

  it('per-drop optimum at 1,000/min: 10 % ≈ 1.56 min, 2 % ≈ 22 min (§3.5, Markov CADD)', () => {
    const d10 = cusumDelayLimit({ n: 1000, p0: 0.6, p1: 0.54, falseAlarmsPerWeek: 1, stepMinutes: 1 });
    expect(d10.delayMinutes).toBeGreaterThan(1.3);
    expect(d10.delayMinutes).toBeLessThan(1.7);
    const d2 = cusumDelayLimit({ n: 1000, p0: 0.6, p1: 0.588, falseAlarmsPerWeek: 1, stepMinutes: 1 });
    expect(d2.delayMinutes).toBeGreaterThan(20);
    expect(d2.delayMinutes).toBeLessThan(24);
  });

  it('a 1 pp wobble lowers the information to ≈1.32 nats/min (§3.6)', () => {
    const r = cusumDelayLimit({ n: 1000, p0: 0.6, p1: 0.57, falseAlarmsPerWeek: 1, stepMinutes: 1, tau2: 1e-4 });
    expect(r.informationPerMinute).toBeCloseTo(1.32, 2);
    expect(r.delayMinutes).toBeGreaterThan(6);
    expect(r.delayMinutes).toBeLessThan(7);
  });

  it('a larger budget shortens the delay; coarser steps keep the same ARL0 in minutes', () => {
    const a = cusumDelayLimit({ n: 1000, p0: 0.6, p1: 0.57, falseAlarmsPerWeek: 1, stepMinutes: 1 });
    const b = cusumDelayLimit({ n: 1000, p0: 0.6, p1: 0.57, falseAlarmsPerWeek: 10, stepMinutes: 1 });
    expect(b.delayMinutes).toBeLessThan(a.delayMinutes);
    const c = cusumDelayLimit({ n: 1000, p0: 0.6, p1: 0.57, falseAlarmsPerWeek: 1, stepMinutes: 5 });
    expect(c.arl0Minutes).toBe(10_080);
    expect(c.delayMinutes).toBeGreaterThanOrEqual(5);
  });

  it('rejects nonsense', () => {
    expect(() => cusumDelayLimit({ n: 0, p0: 0.6, p1: 0.57, falseAlarmsPerWeek: 1, stepMinutes: 1 })).toThrow(
      RangeError,
    );
  });
});

describe('cusumDelayLimitLagged (the limit with the information that has arrived)', () => {
  it('with every cohort complete at once it is the i.i.d. limit', () => {
    const a = cusumDelayLimit({ n: 1000, p0: 0.6, p1: 0.57, falseAlarmsPerWeek: 1, stepMinutes: 1 });
    const b = cusumDelayLimitLagged({
      n: 1000,
      p0: 0.6,
      p1: 0.57,
      falseAlarmsPerWeek: 1,
      stepMinutes: 1,
      completeness: [1],
    });
    expect(b.delayMinutes).toBeCloseTo(a.delayMinutes, 9);
    expect(b.iidDelayMinutes).toBeCloseTo(a.delayMinutes, 9);
  });

  it('a cohort that shows nothing at its first look costs exactly one look', () => {
    const a = cusumDelayLimit({ n: 1000, p0: 0.6, p1: 0.57, falseAlarmsPerWeek: 1, stepMinutes: 1 });
    const b = cusumDelayLimitLagged({
      n: 1000,
      p0: 0.6,
      p1: 0.57,
      falseAlarmsPerWeek: 1,
      stepMinutes: 1,
      completeness: [0, 1],
    });
    expect(b.delayMinutes).toBeCloseTo(a.delayMinutes + 1, 9);
  });

  it('10 % drop, 1,000/min: the i.i.d. limit is 1.35 min; with G = 0.21, 0.47, 0.64, 0.76, … it is ≈ 4.0 min', () => {
    const g = [0.209, 0.467, 0.643, 0.76, 0.839, 0.892, 0.928, 0.952, 0.968, 0.979];
    const b = cusumDelayLimitLagged({
      n: 1000,
      p0: 0.6,
      p1: 0.54,
      falseAlarmsPerWeek: 1,
      stepMinutes: 1,
      completeness: g,
    });
    expect(b.iidDelayMinutes).toBeGreaterThan(1.3);
    expect(b.iidDelayMinutes).toBeLessThan(1.4);
    // Σ G over the first 3 looks is 1.32, just short of the 1.35 needed if information scaled with G; it scales
    // less than G (a partly seen cohort's KL(p1G‖p0G) < G·KL(p1‖p0)), so a fourth look is needed in full.
    expect(b.delayMinutes).toBeCloseTo(4.02, 1);
  });
});
