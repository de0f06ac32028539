/**
 * Name a segment only when it stands out: simulated windows of a shop at 200 and 1,000 checkouts a minute (15-min
 * window, baselines from the hour before, binomial counts, several seeds). A drop of the same size in every value
 * of a dimension must name no value (the page says no single segment explains it); a drop in one value must name
 * that value, with its rate against the other values'. Before the contrast test the largest value by traffic was
 * named in uniform drops whenever noise made the drops look heterogeneous and it carried half the deficit.
 */
import { describe, expect, it } from 'vitest';
import { drilldown, type SegmentInput } from '../../../src/detect/drilldown.js';
import { summarizeDrilldown } from '../../../src/engine/drilldown-summary.js';
import { mulberry32 } from '../../../src/core/prng.js';

const DIMENSIONS: Record<string, [string, number][]> = {
  payment_provider: [
    ['adyen', 0.45],
    ['stripe', 0.4],
    ['paypal', 0.15],
  ],
  platform: [
    ['ios', 0.4],
    ['android', 0.35],
    ['web', 0.25],
  ],
  app_version: [
    ['5.2.0', 0.6],
    ['5.1.3', 0.3],
    ['5.0.9', 0.1],
  ],
};
const RATE = 0.6;
/** Values' rates drift apart by this much (relative sd) between the baseline hour and the window. */
const DRIFT = 0.03;
const WINDOW_MIN = 15;
const BASELINE_MIN = 60;
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];

function gauss(rnd: () => number): number {
  const u = Math.max(1e-12, rnd());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
}

function binomial(n: number, p: number, rnd: () => number): number {
  // Normal approximation, clamped: n·p is in the tens to thousands here.
  return Math.min(n, Math.max(0, Math.round(n * p + gauss(rnd) * Math.sqrt(n * p * (1 - p)))));
}

/** One window of every dimension: each value's starts and conversions, its rate times `factor(dimension, value)`. */
function drilldowns(perMin: number, seed: number, factor: (dim: string, value: string) => number) {
  const rnd = mulberry32(seed);
  return Object.entries(DIMENSIONS).map(([dimension, values]) => {
    const segments: SegmentInput[] = values.map(([value, share]) => {
      const baseStarts = binomial(perMin * BASELINE_MIN, share, rnd);
      const baseConv = binomial(baseStarts, RATE, rnd);
      const starts = binomial(perMin * WINDOW_MIN, share, rnd);
      const rate = RATE * (1 + DRIFT * gauss(rnd)) * factor(dimension, value);
      return {
        value,
        current: { starts, conversions: binomial(starts, rate, rnd) },
        baselineRate: baseConv / baseStarts,
        baselineStarts: baseStarts,
      };
    });
    return drilldown({ dimension, segments, drop: 0.05 });
  });
}

describe('drill-down names a segment only when it stands out', () => {
  for (const perMin of [200, 1000]) {
    it(`a drop of 30% in every value names none (${perMin} checkouts/min, ${SEEDS.length} seeds)`, () => {
      const named: string[] = [];
      for (const seed of SEEDS) {
        const s = summarizeDrilldown(drilldowns(perMin, seed, () => 0.7))!;
        if (s.classification !== 'global') named.push(`seed ${seed}: ${s.summary}`);
        else expect(s.summary).toMatch(/^no single segment explains it/);
      }
      expect(named).toEqual([]);
    });

    it(`a drop of 30% in stripe alone names stripe, against the others' rate (${perMin} checkouts/min)`, () => {
      for (const seed of SEEDS) {
        const results = drilldowns(perMin, seed, (d, v) => (d === 'payment_provider' && v === 'stripe' ? 0.7 : 1));
        const s = summarizeDrilldown(results)!;
        expect(s.classification, `seed ${seed}: ${s.summary}`).toBe('localised');
        expect(s.dimensions[0]!.dimension).toBe('payment_provider');
        expect(s.dimensions[0]!.top.map((v) => v.value)).toEqual(['stripe']);
        const stripe = results[0]!.top[0]!;
        expect(stripe.othersRelativeDrop).toBeLessThan(0.1);
        expect(s.summary).toMatch(
          /^payment_provider=stripe carries \d+% of the deficit \(its rate fell \d+%, the others' (fell|rose) \d+%\)$/,
        );
      }
    });
  }
});
