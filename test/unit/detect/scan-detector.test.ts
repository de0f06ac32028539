import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { binomialDeviance, signedRootDeviance } from '../../../src/detect/likelihood.js';
import { detectChange, detectDrop, seriesWindowSums, windowVariance } from '../../../src/detect/scan-detector.js';
import { detectVolumeChange } from '../../../src/detect/volume-detector.js';

const flat = (n: number, starts: number, conversions: number) => ({
  starts: new Array<number>(n).fill(starts),
  conversions: new Array<number>(n).fill(conversions),
});

describe('signed root deviance', () => {
  it('equals the score z for large counts', () => {
    // 5 minutes at 1,000/min, 0.60 expected, 0.57 observed: z = 0.03·5000/√(5000·0.24) = 4.33.
    const r = signedRootDeviance('binomial', 2850, 3000, 5000);
    expect(r).toBeCloseTo((0.03 * 5000) / Math.sqrt(5000 * 0.24), 1);
  });

  it('keeps the exact skew on tiny counts (n = 40, x = 17, p0 = 0.6: exact p ≈ 0.019)', () => {
    const r = signedRootDeviance('binomial', 17, 24, 40);
    // Wald would give (0.6 − 0.425)/√(0.425·0.575/40) = 2.24; the LR root sits near the exact tail's z ≈ 2.07–2.2.
    expect(r).toBeGreaterThan(2.0);
    expect(r).toBeLessThan(2.3);
    expect(binomialDeviance(24, 24, 40)).toBe(0);
  });

  it('is monotone in the observed count', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.double({ min: 0.05, max: 0.95, noNaN: true }), (n, p) => {
        let prev = Infinity;
        for (let x = 0; x <= n; x += Math.max(1, Math.floor(n / 20))) {
          const r = signedRootDeviance('binomial', x, n * p, n);
          expect(r).toBeLessThanOrEqual(prev + 1e-9);
          prev = r;
        }
      }),
    );
  });
});

describe('detectDrop', () => {
  it('stays ok on data at the baseline', () => {
    const d = detectDrop({ series: { ...flat(240, 1000, 600), expectedRate: 0.6 }, drop: 0.05 });
    expect(d.state).toBe('ok');
    expect(d.statistic).toBeCloseTo(0, 6);
  });

  it('pages an outage on the newest minute, with the onset at that minute', () => {
    const s = flat(240, 1000, 600);
    s.conversions[239] = 0;
    const d = detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.05 });
    expect(d.state).toBe('breach');
    expect(d.windowMinutes).toBe(1);
    expect(d.onsetIndex).toBe(239);
    expect(d.onsetStepsAgo).toBe(1);
  });

  it('pages a 5 % drop held for 8 minutes at 1,000/min (binomial), and estimates its onset', () => {
    const s = flat(240, 1000, 600);
    for (let i = 232; i < 240; i++) s.conversions[i] = 570;
    const d = detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.05 });
    expect(d.state).toBe('breach');
    expect(d.relativeChange).toBeGreaterThan(0.04);
    expect(d.onsetIndex).toBe(232);
    expect(d.observedRate).toBeCloseTo(0.57, 3);
    expect(d.expectedRate).toBeCloseTo(0.6, 6);
  });

  it('the same drop is not significant once a 1 pp wobble is modelled for a 1–2 minute window', () => {
    const s = flat(240, 1000, 600);
    s.conversions[239] = 570;
    expect(detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.05 }).state).toBe('ok');
    const s2 = flat(240, 1000, 600);
    for (let i = 236; i < 240; i++) s2.conversions[i] = 565;
    expect(detectDrop({ series: { ...s2, expectedRate: 0.6 }, drop: 0.05 }).state).toBe('breach');
    expect(detectDrop({ series: { ...s2, expectedRate: 0.6 }, drop: 0.05, noise: 1e-4 }).state).toBe('ok');
  });

  it('baseline uncertainty widens the test', () => {
    const s = flat(240, 1000, 600);
    for (let i = 0; i < 240; i++) s.conversions[i] = 594; // 1 % below baseline for 4 h
    const sure = detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.02 });
    const unsure = detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.02, baselineRelVariance: 0.005 ** 2 });
    expect(sure.statistic).toBeGreaterThan(unsure.statistic);
    expect(unsure.state).toBe('ok');
  });

  it('a significant drop smaller than half of `drop` does not page', () => {
    const s = flat(240, 1000, 600);
    for (let i = 0; i < 240; i++) s.conversions[i] = 588; // −2 %, z ≈ 12 on the 4-hour window
    const d = detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.05 });
    expect(d.statistic).toBeGreaterThan(8);
    expect(d.state).toBe('ok');
    expect(detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.03 }).state).toBe('breach');
  });

  it('says insufficient below min_volume, neither ok nor breach', () => {
    const s = flat(240, 0, 0);
    s.starts[239] = 5;
    const d = detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.05, minVolume: 50 });
    expect(d.state).toBe('insufficient');
  });

  it('accumulates evidence at night: 40 starts/min, total outage pages within a few minutes', () => {
    const s = flat(240, 40, 24);
    for (let i = 237; i < 240; i++) s.conversions[i] = 0;
    const d = detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.05, minVolume: 20 });
    expect(d.state).toBe('breach');
  });

  it('uses completeness: young cohorts with few completions are not a drop', () => {
    const s = flat(240, 1000, 600);
    s.conversions[239] = 180; // 30 % of the eventual 600 arrived
    s.conversions[238] = 420;
    const completeness = new Array<number>(240).fill(1);
    completeness[239] = 0.3;
    completeness[238] = 0.7;
    expect(detectDrop({ series: { ...s, expectedRate: 0.6, completeness }, drop: 0.05 }).state).toBe('ok');
    expect(detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.05 }).state).toBe('breach');
  });

  it('per-step expected rates (risk adjustment) keep a low-converting surge from paging', () => {
    const s = flat(240, 1000, 600);
    const rates = new Array<number>(240).fill(0.6);
    for (let i = 180; i < 240; i++) {
      s.starts[i] = 1500; // +500 campaign starts converting at 0.3
      s.conversions[i] = 600 + 150;
      rates[i] = (600 + 150) / 1500;
    }
    expect(detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.05 }).state).toBe('breach');
    expect(detectDrop({ series: { ...s, expectedRate: rates }, drop: 0.05 }).state).toBe('ok');
  });

  it('increase direction: abandonment or slow-checkout share going up', () => {
    const s = flat(240, 1000, 100);
    for (let i = 230; i < 240; i++) s.conversions[i] = 160;
    expect(detectChange({ series: { ...s, expectedRate: 0.1 }, drop: 0.3, direction: 'increase' }).state).toBe(
      'breach',
    );
    expect(detectChange({ series: { ...s, expectedRate: 0.1 }, drop: 0.3, direction: 'drop' }).state).toBe('ok');
  });

  it('window sums are prefix sums from the newest step', () => {
    const s = { starts: [1, 2, 3, 4], conversions: [0, 1, 1, 2], expectedRate: 0.5 };
    const sums = seriesWindowSums(s, [1, 2, 4, 8]);
    expect(sums.map((x) => x.steps)).toEqual([1, 2, 4]);
    expect(sums[1]!.trials).toBe(7);
    expect(sums[2]!.observed).toBe(4);
  });

  it('random data at the baseline rarely breaches a single look (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -30, max: 30 }), { minLength: 240, maxLength: 240 }), (noise) => {
        const s = { starts: noise.map(() => 1000), conversions: noise.map((e) => 600 + e), expectedRate: 0.6 };
        // |e| ≤ 30 is within ~2σ per minute; a drop can only show when many minutes are low together.
        const d = detectDrop({ series: s, drop: 0.05 });
        expect(['ok', 'breach']).toContain(d.state);
        expect(Number.isFinite(d.statistic)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});

describe('detectVolumeChange', () => {
  it('pages a traffic collapse and a surge in the matching direction only', () => {
    const expected = new Array<number>(240).fill(1000);
    const observed = new Array<number>(240).fill(1000);
    for (let i = 235; i < 240; i++) observed[i] = 500;
    expect(detectVolumeChange({ observed, expected, direction: 'drop', change: 0.3 }).state).toBe('breach');
    expect(detectVolumeChange({ observed, expected, direction: 'increase', change: 0.3 }).state).toBe('ok');
    const up = observed.map((_, i) => (i >= 230 ? 1400 : 1000));
    expect(
      detectVolumeChange({ observed: up, expected, direction: 'increase', change: 0.3, noise: 0.05 ** 2 }).state,
    ).toBe('breach');
  });
});

describe('AR(1) slow wobble in the window variance', () => {
  it('accumulates Σ_ij a_i a_j ρ^|i−j| (a = starts × completeness)', () => {
    const series = {
      starts: [100, 200, 100],
      conversions: [60, 120, 60],
      expectedRate: 0.6,
      completeness: [1, 1, 0.5],
    };
    const [w1, w2, w3] = seriesWindowSums(series, [1, 2, 3], 0.5);
    // a = [100, 200, 50] oldest first.
    expect(w1!.arWeight).toBeCloseTo(50 * 50, 9);
    expect(w2!.arWeight).toBeCloseTo(50 * 50 + 200 * 200 + 2 * 0.5 * 50 * 200, 9);
    expect(w3!.arWeight).toBeCloseTo(
      50 ** 2 + 200 ** 2 + 100 ** 2 + 2 * (0.5 * 50 * 200 + 0.5 * 200 * 100 + 0.25 * 50 * 100),
      9,
    );
    // ρ = 1 is the fully persistent (Σa)².
    expect(seriesWindowSums(series, [3], 1)[0]!.arWeight).toBeCloseTo(350 * 350, 9);
  });

  it('a slow part with a time constant weighs a long window less than a persistent one', () => {
    const s = seriesWindowSums({ ...flat(240, 1000, 600), expectedRate: 0.6 }, [240], Math.exp(-1 / 30))[0]!;
    const persistent = windowVariance(s, { tau2: 0, tau2Slow: 1.6e-5 }, 0);
    const ar = windowVariance(s, { tau2: 0, tau2Slow: 1.6e-5, slowMinutes: 30 }, 0);
    expect(persistent).toBeCloseTo(240 * 1000 * 0.24 + 1.6e-5 * 240_000 ** 2, 3);
    expect(ar).toBeLessThan(persistent);
    expect(ar).toBeGreaterThan(240 * 1000 * 0.24);
    // Persistent part and the baseline's variance add.
    const both = windowVariance(s, { tau2: 0, tau2Persistent: 1e-5 }, 1e-5 / 0.36);
    expect(both).toBeCloseTo(240 * 1000 * 0.24 + 2e-5 * 240_000 ** 2, 3);
  });

  it('the default (no slowMinutes) keeps the old persistent model', () => {
    const s = flat(240, 1000, 600);
    for (let i = 228; i < 240; i++) s.conversions[i] = 575;
    const old = detectDrop({ series: { ...s, expectedRate: 0.6 }, drop: 0.05, noise: { tau2: 5e-5, tau2Slow: 1e-5 } });
    const ar = detectDrop({
      series: { ...s, expectedRate: 0.6 },
      drop: 0.05,
      noise: { tau2: 5e-5, tau2Slow: 1e-5, slowMinutes: 5 },
    });
    expect(ar.statistic).toBeGreaterThanOrEqual(old.statistic);
  });
});
