import { describe, expect, it } from 'vitest';
import { detectableChanges, type DetectabilityInput } from '../../../src/detect/detectability.js';
import { detectChange } from '../../../src/detect/scan-detector.js';
import { detectVolumeChange } from '../../../src/detect/volume-detector.js';

const BASE: DetectabilityInput = {
  family: 'binomial',
  perStep: 1000,
  rate: 0.6,
  direction: 'drop',
  minChange: 0.05,
  minVolume: 200,
  noise: { tau2: 0.01 ** 2, tau2Slow: 0.004 ** 2, slowMinutes: 30 },
  baselineRelVariance: 0.002 ** 2,
  falseAlarmsPerWeek: 1,
  stepMinutes: 1,
  resolveAfterMinutes: 10,
  horizonsMinutes: [15, 60, 240],
};

/** What the scan itself says about a flat series whose newest `span` steps converted `1 − drop` of the baseline. */
function scanPages(input: DetectabilityInput, span: number, drop: number): boolean {
  const n = 240;
  const g = (i: number) => input.completenessByAge?.[n - 1 - i] ?? 1;
  const starts = new Array<number>(n).fill(input.perStep);
  const conversions = starts.map((s, i) => s * input.rate! * g(i) * (i >= n - span ? 1 - drop : 1));
  return (
    detectChange({
      series: { starts, conversions, expectedRate: input.rate!, completeness: starts.map((_, i) => g(i)) },
      drop: input.minChange,
      noise: input.noise,
      baselineRelVariance: input.baselineRelVariance,
      falseAlarmsPerWeek: input.falseAlarmsPerWeek,
      minVolume: input.minVolume,
      resolveAfterMinutes: input.resolveAfterMinutes!,
    }).state === 'breach'
  );
}

describe('detectableChanges', () => {
  it('is the boundary of the scan itself: a drop just above it pages by the horizon, just below it does not', () => {
    const found = detectableChanges(BASE);
    expect(found.map((f) => f.withinMinutes)).toEqual([15, 60, 240]);
    for (const f of found) {
      expect(f.change).not.toBeNull();
      expect(scanPages(BASE, f.withinMinutes, f.change! * 1.01)).toBe(true);
      expect(scanPages(BASE, f.withinMinutes, f.change! * 0.99)).toBe(false);
    }
    // More time, smaller drops.
    expect(found[0]!.change!).toBeGreaterThan(found[1]!.change!);
    expect(found[1]!.change!).toBeGreaterThanOrEqual(found[2]!.change!);
    // Never below half the rule's change: the scan's practical-significance gate.
    expect(found[2]!.change!).toBeGreaterThanOrEqual(0.025);
  });

  it('counts a young cohort only as far as it has completed (conversion lag delays detection)', () => {
    const lagged: DetectabilityInput = {
      ...BASE,
      completenessByAge: [0, 0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95],
    };
    const plain = detectableChanges(BASE);
    const found = detectableChanges(lagged);
    expect(found[0]!.change!).toBeGreaterThan(plain[0]!.change!);
    expect(scanPages(lagged, 15, found[0]!.change! * 1.01)).toBe(true);
    expect(scanPages(lagged, 15, found[0]!.change! * 0.99)).toBe(false);
  });

  it('says none when the traffic cannot reach min_volume within the horizon', () => {
    const quiet = { ...BASE, perStep: 2, minVolume: 200 };
    const found = detectableChanges(quiet);
    // Only windows of 100 minutes or more hold 200 starts; 15 minutes of even a total outage is too little of them.
    expect(found[0]).toEqual({ withinMinutes: 15, change: null, windowMinutes: null });
    expect(scanPages(quiet, 15, 1)).toBe(false);
    for (const f of found.slice(1)) {
      expect(f.windowMinutes).toBeGreaterThanOrEqual(128);
      expect(scanPages(quiet, f.withinMinutes, f.change! * 1.01)).toBe(true);
      expect(scanPages(quiet, f.withinMinutes, f.change! * 0.99)).toBe(false);
    }
  });

  it('does the same for volume rules (Poisson family) against the volume scan', () => {
    const vol: DetectabilityInput = {
      ...BASE,
      family: 'poisson',
      perStep: 50,
      minChange: 0.3,
      minVolume: 1,
      noise: { tau2: 0.1 ** 2, tau2Slow: 0.05 ** 2 },
      baselineRelVariance: 0.05 ** 2,
    };
    delete vol.resolveAfterMinutes;
    const [f15] = detectableChanges(vol);
    const pages = (drop: number) => {
      const expected = new Array<number>(240).fill(50);
      const observed = expected.map((e, i) => (i >= 225 ? e * (1 - drop) : e));
      return (
        detectVolumeChange({
          observed,
          expected,
          direction: 'drop',
          change: 0.3,
          noise: vol.noise,
          baselineRelVariance: vol.baselineRelVariance,
          minVolume: 1,
        }).state === 'breach'
      );
    };
    expect(f15!.change).not.toBeNull();
    expect(pages(f15!.change! * 1.01)).toBe(true);
    expect(pages(f15!.change! * 0.99)).toBe(false);
  });
});
