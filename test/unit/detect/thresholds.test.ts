import { describe, expect, it } from 'vitest';
import { normSf } from '../../../src/detect/normal.js';
import {
  scanThresholds,
  simulateScanPageRates,
  thresholdForRate,
  upcrossingRate,
} from '../../../src/detect/thresholds.js';

// Monte-Carlo calibrated single-window thresholds at 1 FA/week, 1,000/min (statistics.md §3.3).
const MC: [number, number][] = [
  [1, 3.75],
  [3, 3.72],
  [5, 3.67],
  [8, 3.62],
  [15, 3.51],
  [30, 3.35],
  [60, 3.19],
  [120, 2.97],
  [240, 2.73],
];

describe('scan thresholds from a weekly budget', () => {
  it.each(MC)('single %i-min window matches the Monte-Carlo calibration (c ≈ %f)', (w, c) => {
    expect(Math.abs(thresholdForRate(w, 1 / 10_080) - c)).toBeLessThan(0.06);
  });

  it('the 1-minute window is the per-look Bonferroni Φ⁻¹(1 − 1/10080) = 3.72', () => {
    expect(thresholdForRate(1, 1 / 10_080)).toBeCloseTo(3.72, 2);
  });

  it('splits the budget over windows: short windows ≥ the single-threshold scan (4.10), long ones lower', () => {
    const t = scanThresholds({ falseAlarmsPerWeek: 1, stepMinutes: 1, uncalibrated: true });
    expect(t.windows).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 240]);
    expect(t.calibration).toBe(1);
    expect(t.thresholds[0]).toBeGreaterThan(4.1);
    expect(t.thresholds[0]).toBeLessThan(4.4);
    for (let i = 1; i < t.thresholds.length; i++)
      expect(t.thresholds[i]!).toBeLessThanOrEqual(t.thresholds[i - 1]! + 1e-9);
    const total = t.windows.reduce((a, w, i) => a + upcrossingRate(w, t.thresholds[i]!), 0) * t.looksPerWeek;
    expect(total).toBeCloseTo(1, 6);
  });

  it('calibration: the equal split is only ~6 % conservative for the default windows (resolve_after 10m)', () => {
    // Simulated once with 2·10⁷ looks: the uncalibrated scan pages 0.91×/week under the i.i.d. null.
    const t = scanThresholds({ falseAlarmsPerWeek: 1, stepMinutes: 1 });
    expect(t.calibration).toBeGreaterThan(1.0);
    expect(t.calibration).toBeLessThan(1.2);
    const total = t.windows.reduce((a, w, i) => a + upcrossingRate(w, t.thresholds[i]!), 0) * t.looksPerWeek;
    expect(total).toBeCloseTo(t.calibration, 6);
    // Short-window thresholds drop by ~0.01–0.03 against the plain split.
    const u = scanThresholds({ falseAlarmsPerWeek: 1, stepMinutes: 1, uncalibrated: true });
    t.thresholds.forEach((c, i) => {
      expect(c).toBeLessThan(u.thresholds[i]!);
      expect(c).toBeGreaterThan(u.thresholds[i]! - 0.05);
    });
    // An independent simulation (other seed) at the calibrated thresholds pages ≈ 1×/week.
    const [rate] = simulateScanPageRates(t.windows, [t.thresholds], { steps: 6e6, resolveSteps: 10, seed: 77 });
    expect(rate! * 10_080).toBeGreaterThan(0.85);
    expect(rate! * 10_080).toBeLessThan(1.18);
  });

  it('simulated null: one 1-step window up-crosses at Φ̄(c) per look; a 5-step window matches Siegmund', () => {
    const [r1] = simulateScanPageRates([1], [[3.0]], { steps: 1e6, resolveSteps: 0, seed: 5 });
    // Up-crossings of an i.i.d. sequence: P(Z_t ≥ c, Z_{t−1} < c) = Φ̄(c)·Φ(c).
    expect(r1! / (normSf(3) * (1 - normSf(3)))).toBeGreaterThan(0.9);
    expect(r1! / (normSf(3) * (1 - normSf(3)))).toBeLessThan(1.1);
    const c5 = thresholdForRate(5, 1e-3);
    const [r5] = simulateScanPageRates([5], [[c5]], { steps: 1e6, resolveSteps: 10, seed: 6 });
    expect(r5! / 1e-3).toBeGreaterThan(0.85);
    expect(r5! / 1e-3).toBeLessThan(1.15);
  });

  it('a looser budget lowers every threshold; 15-minute steps have fewer looks', () => {
    const a = scanThresholds({ falseAlarmsPerWeek: 1, stepMinutes: 1 });
    const b = scanThresholds({ falseAlarmsPerWeek: 4, stepMinutes: 1 });
    b.thresholds.forEach((c, i) => expect(c).toBeLessThan(a.thresholds[i]!));
    expect(scanThresholds({ falseAlarmsPerWeek: 1, stepMinutes: 15, windows: [1, 2, 4, 8, 16] }).looksPerWeek).toBe(
      672,
    );
  });
});
