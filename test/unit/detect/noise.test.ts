import { describe, expect, it } from 'vitest';
import { estimateCompleteness } from '../../../src/detect/lag.js';
import { ar1BlockFactor, estimateNoiseProfile, estimateTau2, riskAdjustedResidual } from '../../../src/detect/noise.js';

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
      res.push({
        starts: 1000,
        conversions: Math.round(1000 * p + z[(i * 7919) % 30_000]! * Math.sqrt(240)),
        expectedRate: 0.6,
      });
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
    const g = estimateCompleteness(
      [
        { observedByAge: [10, 50, 90, 100], final: 100 },
        { observedByAge: [30, 50, 110, 100], final: 100 },
      ],
      3,
    );
    expect(g).toEqual([0.2, 0.5, 0.95, 1]);
  });
});

describe('AR(1) slow wobble', () => {
  it('ar1BlockFactor: 1 for one step, 1/m for white, (1+ρ)/2 for two steps, 1 when persistent', () => {
    expect(ar1BlockFactor(1, 0.9)).toBe(1);
    expect(ar1BlockFactor(10, 0)).toBeCloseTo(0.1, 12);
    expect(ar1BlockFactor(2, 0.6)).toBeCloseTo(0.8, 12);
    expect(ar1BlockFactor(50, 1)).toBe(1);
    // Brute force for m = 7, ρ = 0.8.
    let s = 0;
    for (let i = 0; i < 7; i++) for (let j = 0; j < 7; j++) s += 0.8 ** Math.abs(i - j);
    expect(ar1BlockFactor(7, 0.8)).toBeCloseTo(s / 49, 12);
  });

  it('recovers a white 0.8 pp + AR(1) 0.5 pp (30-minute time constant) wobble at 1,000/min', () => {
    const n = 40_000;
    const z = lcgNormals(3 * n, 21);
    const rho = Math.exp(-1 / 30);
    let ar = 0;
    const res = [];
    for (let i = 0; i < n; i++) {
      ar = rho * ar + 0.005 * Math.sqrt(1 - rho * rho) * z[i]!;
      const p = 0.6 + 0.008 * z[n + i]! + ar;
      res.push({
        starts: 1000,
        conversions: Math.round(1000 * p + z[2 * n + i]! * Math.sqrt(1000 * p * (1 - p))),
        expectedRate: 0.6,
      });
    }
    const m = estimateNoiseProfile(res);
    expect(Math.sqrt(m.tau2)).toBeGreaterThan(0.007);
    expect(Math.sqrt(m.tau2)).toBeLessThan(0.009);
    const slowTotal = (m.tau2Slow ?? 0) + (m.tau2Persistent ?? 0);
    expect(Math.sqrt(slowTotal)).toBeGreaterThan(0.0038);
    expect(Math.sqrt(slowTotal)).toBeLessThan(0.0065);
    expect(m.slowMinutes).toBeGreaterThanOrEqual(16);
    expect(m.slowMinutes).toBeLessThanOrEqual(64);
  });

  it('the baseline error the residuals declare is not counted again', () => {
    const n = 30_000;
    const z = lcgNormals(3 * n, 5);
    const res = [];
    for (let i = 0; i < n; i++) {
      // Baseline off by a constant per 2-hour slot, σ = 0.4 pp, and it says so.
      const base = 0.6 + 0.004 * z[Math.floor(i / 120)]!;
      const p = 0.6 + 0.008 * z[n + i]!;
      res.push({
        starts: 1000,
        conversions: Math.round(1000 * p + z[2 * n + i]! * Math.sqrt(240)),
        expectedRate: base,
        baselineVariance: 0.004 ** 2,
      });
    }
    const net = estimateNoiseProfile(res);
    const gross = estimateNoiseProfile(res.map(({ baselineVariance: _b, ...r }) => r));
    const slow = (m: typeof net) => (m.tau2Slow ?? 0) + (m.tau2Persistent ?? 0);
    expect(slow(gross)).toBeGreaterThan(1e-5);
    expect(slow(net)).toBeLessThan(4e-6);
    expect(Math.sqrt(net.tau2)).toBeGreaterThan(0.007);
    expect(Math.sqrt(net.tau2)).toBeLessThan(0.009);
  });
});

describe('riskAdjustedResidual', () => {
  const total = { starts: 1000, conversions: 560, expectedRate: 0.6, baselineVariance: 1e-6 };

  it('expects each value at its own rate, and combines their baseline variances by starts', () => {
    const r = riskAdjustedResidual(total, [
      { starts: 700, conversions: 430, expectedRate: 0.62, baselineVariance: 4e-6 },
      { starts: 300, conversions: 130, expectedRate: 0.3, baselineVariance: 9e-6 },
    ])!;
    expect(r.starts).toBe(1000);
    expect(r.conversions).toBe(560);
    expect(r.expectedRate).toBeCloseTo(0.524, 12); // (700·0.62 + 300·0.3) / 1000
    expect(r.baselineVariance).toBeCloseTo(2.77e-6, 15); // (700²·4e-6 + 300²·9e-6) / 1000²
  });

  it('keeps the funnel-wide rate for starts no value with a baseline covers', () => {
    const r = riskAdjustedResidual(total, [
      { starts: 700, conversions: 430, expectedRate: 0.62, baselineVariance: 4e-6 },
      { starts: 200, conversions: 90, expectedRate: NaN },
      null,
    ])!;
    expect(r.expectedRate).toBeCloseTo((700 * 0.62 + 300 * 0.6) / 1000, 12);
    expect(r.baselineVariance).toBeCloseTo((700 ** 2 * 4e-6 + 300 ** 2 * 1e-6) / 1000 ** 2, 15);
  });

  it('is null without starts, or when uncovered starts have no funnel-wide rate', () => {
    expect(riskAdjustedResidual({ ...total, starts: 0 }, [])).toBeNull();
    expect(
      riskAdjustedResidual({ ...total, expectedRate: NaN }, [{ starts: 600, conversions: 360, expectedRate: 0.6 }]),
    ).toBeNull();
    expect(
      riskAdjustedResidual({ ...total, expectedRate: NaN }, [{ starts: 1000, conversions: 600, expectedRate: 0.6 }])
        ?.expectedRate,
    ).toBeCloseTo(0.6, 12);
  });

  it('a campaign of half-converting traffic is not fitted as slow noise', () => {
    // 12 hours at 1,000 starts/min, 0.9 pp white wobble; for 2 hours a campaign brings +35 % traffic at half the rate.
    const n = 720;
    const z = lcgNormals(3 * n, 31);
    const raw = [],
      adjusted = [];
    for (let i = 0; i < n; i++) {
      const campaign = i >= 300 && i < 420 ? 350 : 20;
      const wobble = 0.009 * z[i]!;
      const regular = {
        starts: 1000,
        conversions: Math.round(1000 * (0.6 + wobble) + z[n + i]! * Math.sqrt(240)),
        expectedRate: 0.6,
        baselineVariance: 0,
      };
      const camp = {
        starts: campaign,
        conversions: Math.round(campaign * (0.3 + wobble / 2) + z[2 * n + i]! * Math.sqrt(campaign * 0.21)),
        expectedRate: 0.3,
        baselineVariance: 0,
      };
      const all = {
        starts: regular.starts + camp.starts,
        conversions: regular.conversions + camp.conversions,
        expectedRate: (1000 * 0.6 + 20 * 0.3) / 1020,
        baselineVariance: 0,
      };
      raw.push(all);
      adjusted.push(riskAdjustedResidual(all, [regular, camp])!);
    }
    const slow = (m: ReturnType<typeof estimateNoiseProfile>) => (m.tau2Slow ?? 0) + (m.tau2Persistent ?? 0);
    expect(slow(estimateNoiseProfile(raw))).toBeGreaterThan(1e-4);
    const fit = estimateNoiseProfile(adjusted);
    expect(slow(fit)).toBeLessThan(1e-5);
    expect(Math.sqrt(fit.tau2)).toBeGreaterThan(0.006);
    expect(Math.sqrt(fit.tau2)).toBeLessThan(0.012);
  });
});
