import { describe, expect, it } from 'vitest';
import { binBuckets, seriesPoints } from '../../../src/dashboard/series.js';
import { MapSeriesReader } from '../../../src/detect/series-reader.js';
import type { BucketCounts } from '../../../src/windows/window-store.js';
import { testFunnel, testRule } from '../../support/engine-fixtures.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const TO = 1_000 * HOUR;
const funnel = testFunnel();
/** 3 steps: started, payment, completed; ratio started → completed; trailing 2 h. */
const rule = testRule();

/** 100 starts a minute, 60 completed until `dropAt`, 30 from it on; ios carries a fifth of them. */
function reader(dropAt: number): MapSeriesReader {
  const fine = new Map<number, BucketCounts>();
  for (let t = TO - 40 * HOUR; t < TO; t += MIN) {
    const done = t < dropAt ? 60 : 30;
    fine.set(t, {
      start: t,
      widthMs: MIN,
      volume: [100, 80, done],
      cohort: [100, 80, done],
      dims: { platform: { volume: { ios: [20, 16, done / 5] }, cohort: { ios: [20, 16, done / 5] } } },
      durations: {},
    });
  }
  return new MapSeriesReader(MIN, 15 * MIN, fine, new Map());
}

describe('the dashboard series', () => {
  it('bins long spans into at most 720 points of whole buckets', () => {
    expect(binBuckets(360)).toBe(1);
    expect(binBuckets(1440)).toBe(2);
    expect(binBuckets(7 * 1440)).toBe(15);
  });

  it('plots observed against the detector’s expectation, with a band, and the drop far outside it', () => {
    const s = seriesPoints(rule, funnel, reader(TO - 30 * MIN), null, TO - 6 * HOUR, TO);
    expect(s.t).toHaveLength(360);
    expect(s.t[0]).toBe(TO - 6 * HOUR);
    expect(s.observed[0]).toBeCloseTo(0.6, 10);
    expect(s.observed[359]).toBeCloseTo(0.3, 10);
    // The trailing baseline ends an hour before each look: 0.6 until the drop reaches into its window.
    expect(s.expected[0]).toBeCloseTo(0.6, 10);
    expect(s.expected[359]).toBeCloseTo(0.6, 10);
    // 95% band at 100 trials: 0.6 ± 1.96·√(0.6·0.4/100).
    expect(s.upper[0]! - s.expected[0]!).toBeCloseTo(1.959964 * Math.sqrt(0.0024), 6);
    expect(s.z[0]).toBeCloseTo(0, 6);
    expect(s.z[359]).toBeCloseTo((30 - 60) / Math.sqrt(100 * 0.24), 6);
  });

  it('pools a bin’s buckets, and reads a segment’s own counts', () => {
    const s = seriesPoints(
      rule,
      funnel,
      reader(TO - 30 * MIN),
      { dimension: 'platform', value: 'ios' },
      TO - 24 * HOUR,
      TO,
    );
    expect(s.binMs).toBe(2 * MIN);
    expect(s.t).toHaveLength(720);
    expect(s.trials[0]).toBe(40);
    expect(s.observed[0]).toBeCloseTo(0.6, 10);
    expect(s.observed[719]).toBeCloseTo(0.3, 10);
  });
});
