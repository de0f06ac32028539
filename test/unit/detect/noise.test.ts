import { describe, expect, it } from 'vitest';
import { estimateCompleteness } from '../../../src/detect/lag.js';
import { estimateNoiseProfile, estimateTau2 } from '../../../src/detect/noise.js';

// Deterministic pseudo-normal draws (no Math.random in tests either).
function lcgNormals(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
  return out;
}

describe('estimateTau2', () => {
  it('is ~0 for binomial data and floors at 0', () => {
    const z = lcgNormals(20_000, 7);
    const res = z.map((e) => ({ starts: 1000, conversions: Math.round(600 + e * Math.sqrt(240)), expectedRate: 0.6 }));
    expect(estimateTau2(res)).toBeLessThan(4e-6);
    expect(estimateTau2(res)).toBeGreaterThanOrEqual(0);
  });

  it('recovers a 1 pp wobble at 1,000/min', () => {
    const z = lcgNormals(40_000, 11);
    const res = z.slice(0, 20_000).map((e, i) => {
      const p = 0.6 + 0.01 * z[20_000 + i]!;
      return { starts: 1000, conversions: Math.round(1000 * p + e * Math.sqrt(1000 * p * (1 - p))), expectedRate: 0.6 };
    });
    const t = estimateTau2(res);
    expect(Math.sqrt(t)).toBeGreaterThan(0.009);
    expect(Math.sqrt(t)).toBeLessThan(0.011);
  });

  it('separates a persistent wobble from a per-minute one', () => {
    const z = lcgNormals(60_000, 3);
    const res = [];
    for (let i = 0; i < 30_000; i++) {
      const slow = 0.005 * z[Math.floor(i / 60)]!; // constant within each hour
      const p = 0.6 + 0.008 * z[30_000 + i]! + slow;
      res.push({ starts: 1000, conversions: Math.round(1000 * p + z[(i * 7919) % 30_000]! * Math.sqrt(240)), expectedRate: 0.6 });
    }
    const m = estimateNoiseProfile(res, 60);
    expect(Math.sqrt(m.tau2)).toBeGreaterThan(0.006);
    expect(Math.sqrt(m.tau2)).toBeLessThan(0.01);
    expect(Math.sqrt(m.tau2Slow!)).toBeGreaterThan(0.003);
    expect(Math.sqrt(m.tau2Slow!)).toBeLessThan(0.007);
  });
});

describe('estimateCompleteness', () => {
  it('is the arrived share by age, non-decreasing, 1 past the data', () => {
    const g = estimateCompleteness([
      { observedByAge: [10, 50, 90, 100], final: 100 },
      { observedByAge: [30, 50, 110, 100], final: 100 },
    ], 3);
    expect(g).toEqual([0.2, 0.5, 0.95, 1]);
  });
});
