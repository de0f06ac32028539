import { describe, expect, it } from 'vitest';
import { seasonalBaseline, selectBaseline, trailingBaseline } from '../../../src/detect/baseline.js';

const minutes = (n: number, starts: number, conversions: number) =>
  Array.from({ length: n }, () => ({ starts, conversions }));

describe('trailingBaseline', () => {
  it('is the ratio of sums over the window, excluding the span under test', () => {
    const h = [...minutes(120, 1000, 600), ...minutes(10, 1000, 0)];
    const b = trailingBaseline({ history: h, windowSteps: 120, excludeRecentSteps: 10 });
    expect(b.kind).toBe('trailing');
    expect(b.rate).toBeCloseTo(0.6, 12);
    expect(b.variance).toBeCloseTo(0.24 / 120_000, 12);
  });

  it('adds τ² averaged over the window', () => {
    const b = trailingBaseline({ history: minutes(120, 1000, 600), windowSteps: 120, tau2: 1e-4 });
    expect(b.variance).toBeCloseTo(0.24 / 120_000 + 1e-4 / 120, 12);
  });
});

describe('seasonalBaseline', () => {
  it('trims one bad week (an outage last week does not lower the expectation)', () => {
    const weeks = [
      { starts: 60_000, conversions: 24_000 }, // last week: incident, 0.40
      { starts: 60_000, conversions: 36_060 },
      { starts: 60_000, conversions: 35_940 },
      { starts: 60_000, conversions: 36_000 },
    ];
    const b = seasonalBaseline({ weeks, weeksWanted: 4 });
    expect(b.kind).toBe('seasonal');
    expect(b.trimmedWeek).toBe(1);
    expect(b.weeksUsed).toBe(3);
    expect(b.rate).toBeCloseTo(0.6, 6);
    // Variance: binomial over 180k starts plus (here ~0) between-week spread.
    expect(Math.sqrt(b.variance)).toBeLessThan(0.0015);
  });

  it('reports between-week spread in its variance', () => {
    const steady = seasonalBaseline({
      weeks: [600, 600, 600].map((c) => ({ starts: 1000, conversions: c })),
      weeksWanted: 3,
    });
    const spread = seasonalBaseline({
      weeks: [
        { starts: 100_000, conversions: 58_000 },
        { starts: 100_000, conversions: 60_000 },
        { starts: 100_000, conversions: 62_000 },
        { starts: 100_000, conversions: 60_500 },
      ],
      weeksWanted: 4,
    });
    expect(spread.relVariance).toBeGreaterThan(0.24 / 300_000 / 0.36);
    expect(steady.trimmedWeek).not.toBeUndefined();
  });

  it('applies a level factor shrunk towards 1', () => {
    const weeks = [1, 2, 3, 4].map(() => ({ starts: 60_000, conversions: 36_000 }));
    const up = seasonalBaseline({ weeks, weeksWanted: 4, level: { observed: 20_400, expected: 20_000 } });
    expect(up.level!).toBeGreaterThan(1.01);
    expect(up.level!).toBeLessThan(1.02);
    expect(up.rate).toBeCloseTo(0.6 * up.level!, 12);
    const tiny = seasonalBaseline({ weeks, weeksWanted: 4, level: { observed: 0, expected: 10 } });
    expect(tiny.level!).toBeGreaterThan(0.9);
  });
});

describe('selectBaseline', () => {
  const trailing = { history: minutes(180, 1000, 590), windowSteps: 120, excludeRecentSteps: 30 };
  it('falls back to trailing on a fresh install and says so', () => {
    const b = selectBaseline({
      seasonal: { weeks: [{ starts: 60_000, conversions: 36_000 }, null, null, null], weeksWanted: 4 },
      trailing,
    });
    expect(b.kind).toBe('trailing');
    expect(b.fallback?.wanted).toBe('seasonal');
    expect(b.fallback?.reason).toMatch(/4 week\(s\).*1 available/);
    expect(b.rate).toBeCloseTo(0.59, 12);
  });

  it('uses the seasonal baseline once the history is there', () => {
    const weeks = [1, 2, 3, 4].map(() => ({ starts: 60_000, conversions: 36_000 }));
    const b = selectBaseline({ seasonal: { weeks, weeksWanted: 4 }, trailing });
    expect(b.kind).toBe('seasonal');
    expect(b.fallback).toBeUndefined();
  });
});
