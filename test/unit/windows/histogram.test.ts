import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  bucketValue,
  durationBucket,
  exactPercentile,
  histogramOf,
  histogramPercentile,
  mergeHistograms,
  DURATION_RELATIVE_ERROR,
} from '../../../src/windows/histogram.js';

describe('log-scale duration histogram', () => {
  it('keeps every value within the relative error bound of its bucket value', () => {
    for (const v of [1, 2, 3, 10, 999, 1000, 1001, 59_999, 60_000, 1_800_000]) {
      expect(Math.abs(bucketValue(durationBucket(v)) - v) / v).toBeLessThanOrEqual(DURATION_RELATIVE_ERROR + 1e-12);
    }
    expect(durationBucket(0)).toBe(0);
    expect(durationBucket(-5)).toBe(0);
    expect(bucketValue(0)).toBe(0);
    expect(DURATION_RELATIVE_ERROR).toBeLessThan(0.05);
  });

  it('reads p50/p90/p95/p99 within 5% of the exact nearest-rank percentiles', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3_600_000 }), { minLength: 1, maxLength: 500 }), (samples) => {
        const h = histogramOf(samples);
        for (const q of [0.5, 0.9, 0.95, 0.99]) {
          const exact = exactPercentile(samples, q)!;
          expect(Math.abs(histogramPercentile(h, q)! - exact) / exact).toBeLessThan(0.05);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('computes exact percentiles by nearest rank and merges histograms', () => {
    const s = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect([0.5, 0.9, 0.95, 0.99].map((q) => exactPercentile(s, q))).toEqual([5, 9, 10, 10]);
    expect(exactPercentile([], 0.5)).toBeUndefined();
    expect(histogramPercentile(new Map(), 0.5)).toBeUndefined();
    const merged = mergeHistograms(histogramOf([1000, 1000]), histogramOf([1000, 5000]));
    expect(merged.get(durationBucket(1000))).toBe(3);
    expect(merged.get(durationBucket(5000))).toBe(1);
  });
});
