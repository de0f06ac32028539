/**
 * step_duration on a young baseline (issue 20): the share of durations above the baseline's p95 bucket is counted
 * in the baseline itself, and a baseline of a couple of minutes holds only a handful above it. Taken as exact, that
 * share's sampling error paged `checkout-payment-slow` on the demo shop's healthy traffic an hour into a replay
 * ("slow share 10.7% vs expected 4.5%"); its binomial error now widens the scan's variance.
 */
import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/detect/evaluate-rule.js';
import { RuleMemory } from '../../../src/detect/rule-look.js';
import { MapSeriesReader } from '../../../src/detect/series-reader.js';
import { mulberry32 } from '../../../src/core/prng.js';
import { durationBucket } from '../../../src/windows/histogram.js';
import type { BucketCounts } from '../../../src/windows/window-store.js';
import { testFunnel, testRule } from '../../support/engine-fixtures.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 9, 5, 8, 0);
const funnel = testFunnel();
const COMPLETED = funnel.steps.findIndex((s) => s.name === 'completed');

/** The shop's payment→completion pause: log-normal, median 8 s, σ 0.8, the same every minute. */
function reader(seed: number, minutes: number, perMinute: (k: number) => number): MapSeriesReader {
  const rnd = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const fine = new Map<number, BucketCounts>();
  for (let k = 0; k < minutes; k++) {
    const h: Record<number, number> = {};
    const n = perMinute(k);
    for (let i = 0; i < n; i++) {
      const b = durationBucket(Math.round(8000 * Math.exp(0.8 * normal())));
      h[b] = (h[b] ?? 0) + 1;
    }
    const t = T0 + k * MIN;
    fine.set(t, {
      start: t,
      widthMs: MIN,
      volume: [n, n, n],
      cohort: [n, n, n],
      dims: {},
      durations: { [COMPLETED]: h },
    });
  }
  return new MapSeriesReader(MIN, 15 * MIN, fine, new Map());
}

const rule = testRule({
  name: 'payment-slow',
  metric: { kind: 'step_duration', from: 'payment', to: 'completed', percentile: 0.95 },
  direction: 'increase',
  minChange: 0.3,
  baseline: { kind: 'trailing', windowMs: 120 * MIN },
  minVolume: 100,
  segments: [],
});

describe('step_duration on a young baseline', () => {
  it.each([
    ['its first two minutes (judged too young)', 2],
    ['its first five minutes (judged, widened)', 5],
  ])('does not page steady durations when the baseline holds only %s', (_what, young) => {
    const pages: string[] = [];
    let judged = 0;
    for (let seed = 1; seed <= 20; seed++) {
      // 65 durations a minute in the first two minutes (the stream starting), 200 after; the look `young` minutes
      // into the second hour has a baseline of the first `young` minutes only (it ends an hour before the look).
      const r = reader(seed, 60 + young, (k) => (k < 2 ? 65 : 200));
      const look = { rule, funnel, reader: r, evalTo: T0 + (60 + young) * MIN, memory: new RuleMemory() };
      const d = evaluateRule(look)[0]!.detection;
      if (d.state === 'insufficient') expect(d.reason).toMatch(/^baseline too young: \d+ of its durations above p95/);
      else judged++;
      if (d.state === 'breach')
        pages.push(`seed ${seed}: ${d.observedRate.toFixed(3)} vs ${d.expectedRate.toFixed(3)}`);
    }
    expect(pages).toEqual([]);
    if (young >= 5) expect(judged).toBe(20);
  });
});
