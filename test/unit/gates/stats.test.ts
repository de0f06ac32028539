import { describe, expect, it } from 'vitest';
import { logGamma, srmLogBayesFactor } from '../../../src/gates/stats-srm.js';
import {
  addCohort,
  armRate,
  emptyArm,
  halfNormalMixtureLogE,
  logNormCdf,
  msprtLogE,
  scoreAt,
} from '../../../src/gates/stats-evidence.js';
import { effectiveTrials } from '../../../src/gates/maturity.js';
import { mulberry32 } from '../../../src/core/prng.js';

describe('mSPRT (Johari et al. 2017)', () => {
  it('matches the closed form Λ = √(V/(V+nτ²))·exp(n²τ²Δ²/(2V(V+nτ²))) for a hand-computed case', () => {
    // V = 1, n = 100, τ² = 0.01, Δ̂ = 0.2, θ0 = 0: Λ = √(1/2)·exp(10000·0.01·0.04/(2·1·2)) = e/√2.
    const n = 100;
    const v = 1;
    const info = n / v;
    expect(Math.exp(msprtLogE(0.2 * info, info, 0.01))).toBeCloseTo(Math.E / Math.SQRT2, 12);
    expect(Math.E / Math.SQRT2).toBeCloseTo(1.9221155140795585, 14);
  });

  it('the one-sided (half-normal) mixture equals its integral computed numerically', () => {
    for (const [s, info, tau2] of [
      [20, 100, 0.01],
      [-5, 50, 0.04],
      [3, 400, 0.0025],
    ] as const) {
      // ∫_0^∞ exp(u·s − u²·I/2)·2·N(u; 0, τ²) du by the trapezoid rule on a fine grid.
      const tau = Math.sqrt(tau2);
      const h = tau / 2000;
      let sum = 0;
      for (let u = 0; u < 12 * tau; u += h) {
        const f = (x: number) =>
          Math.exp(x * s - 0.5 * x * x * info) * (2 / (tau * Math.sqrt(2 * Math.PI))) * Math.exp((-0.5 * x * x) / tau2);
        sum += 0.5 * h * (f(u) + f(u + h));
      }
      expect(halfNormalMixtureLogE(s, info, tau2)).toBeCloseTo(Math.log(sum), 6);
    }
  });

  it('log Φ is continuous where it switches to the asymptotic series', () => {
    expect(logNormCdf(-8.0000001)).toBeCloseTo(logNormCdf(-7.9999999), 4);
    // Mills ratio: Φ(−x) ≈ φ(x)/x·(1 − 1/x² + 3/x⁴) at x = 40.
    expect(logNormCdf(-40)).toBeCloseTo(
      -800 - Math.log(40) - 0.5 * Math.log(2 * Math.PI) + Math.log1p(-1 / 1600 + 3 / 1600 ** 2),
      7,
    );
  });
});

describe('sequential SRM Bayes factor (Lindon & Malek; GrowthBook ssrm.py)', () => {
  it('log Γ is exact at known points', () => {
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 13);
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 12);
    expect(logGamma(1)).toBeCloseTo(0, 14);
  });

  it('matches a hand-computed beta-binomial case: x = (2, 0), p0 = ½, k = 2 gives BF = 4/3', () => {
    // BF = [B(1 + 2, 1)/B(1, 1)] / 0.5² = (Γ(3)Γ(1)/Γ(4)) / 0.25 = (2/6)/0.25.
    expect(Math.exp(srmLogBayesFactor([2, 0], [0.5, 0.5], 2))).toBeCloseTo(4 / 3, 12);
  });

  it('matches values computed with python math.lgamma', () => {
    expect(srmLogBayesFactor([120, 880], [0.1, 0.9], 1000)).toBeCloseTo(0.6906638100199416, 9);
    expect(srmLogBayesFactor([120, 880], [0.1, 0.9], 10000)).toBeCloseTo(0.14527958535290963, 9);
    expect(srmLogBayesFactor([100, 900], [0.1, 0.9], 1000)).toBeCloseTo(-0.34699488414571533, 9);
    expect(srmLogBayesFactor([30, 70], [0.5, 0.5], 100)).toBeCloseTo(3.6997595965386836, 9);
  });
});

describe('sequential SRM under continuous monitoring (fixed seed)', () => {
  it('a correct 10 % split watched every 25 entries up to 20,000: max BF ≥ 20 in ≤ 5 % of 400 runs', () => {
    const rnd = mulberry32(2026);
    let alarms = 0;
    for (let run = 0; run < 400; run++) {
      let c = 0;
      let max = 0;
      for (let n = 1; n <= 20_000; n++) {
        if (rnd() < 0.1) c++;
        if (n % 25 === 0) max = Math.max(max, srmLogBayesFactor([c, n - c], [0.1, 0.9]));
      }
      if (max >= Math.log(20)) alarms++;
    }
    expect(alarms / 400).toBeLessThanOrEqual(0.05);
  });

  it('twice the weight is found within 1,000 entries', () => {
    const rnd = mulberry32(7);
    let c = 0;
    let found = 0;
    for (let n = 1; n <= 1000 && !found; n++) {
      if (rnd() < 0.2) c++;
      if (srmLogBayesFactor([c, n - c], [0.1, 0.9]) >= Math.log(1000)) found = n;
    }
    expect(found).toBeGreaterThan(0);
  });
});

describe('young cohorts', () => {
  it('effective trials are entered × G(age), age 0 = the minute that has just ended', () => {
    const curve = [0.2, 0.6, 0.9];
    expect(effectiveTrials(100, 0, 60_000, curve)).toBeCloseTo(20, 12);
    expect(effectiveTrials(100, 0, 120_000, curve)).toBeCloseTo(60, 12);
    expect(effectiveTrials(100, 0, 10 * 60_000, curve)).toBe(100);
    expect(effectiveTrials(100, 60_000, 60_000, curve)).toBe(0); // the minute has not ended
    expect(effectiveTrials(0, 0, 60_000, curve)).toBe(0);
  });

  it('the rate is the maximum-likelihood one: mature cohorts alone give successes/trials', () => {
    const arm = emptyArm();
    addCohort(arm, 1000, 600);
    addCohort(arm, 500, 290);
    expect(armRate(arm)).toBeCloseTo(890 / 1500, 12);
  });

  it('with a young cohort the rate solves the score equation X/p = Σ (E − x)G/(1 − pG)', () => {
    const arm = emptyArm();
    addCohort(arm, 1000, 600);
    addCohort(arm, 0.3 * 1000, 170, 1000); // G = 0.3, 170 of its successes arrived
    const p = armRate(arm)!;
    const score = 770 / p - 400 / (1 - p) - (830 * 0.3) / (1 - 0.3 * p);
    expect(Math.abs(score)).toBeLessThan(1e-6);
    expect(p).toBeGreaterThan(0.55);
    expect(p).toBeLessThan(0.6);
  });

  it('efficient score at θ0 = 0, mature counts: (x_c − n_c·p̄)/(1 − p̄), information n_c·n_b/n·p̄/(1 − p̄)', () => {
    const c = emptyArm();
    const b = emptyArm();
    addCohort(c, 100, 50);
    addCohort(b, 900, 540);
    const pbar = 590 / 1000;
    const s = scoreAt(c, b, 0);
    expect(s.score).toBeCloseTo((50 - 100 * pbar) / (1 - pbar), 9);
    expect(s.info).toBeCloseTo(((100 * 900) / 1000) * (pbar / (1 - pbar)), 9);
  });
});
