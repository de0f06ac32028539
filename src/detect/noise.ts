/**
 * Extra-binomial noise estimated from history (statistics.md §1.2).
 *
 * The true rate wobbles from minute to minute (traffic mix, promotions). Against the baseline the residual
 * r_i = p̂_i − p0_i has variance p0q0/n_i + τ². Method of moments (DerSimonian–Laird form): τ̂² is the mean of
 * r_i² − p0q0/n_i, weighted by 1/v_i² (the inverse variance of a squared residual) with v_i from a first
 * unweighted pass, floored at 0.
 *
 * Wobble that persists across minutes does not average out over a window. `estimateNoiseProfile` separates the
 * two by aggregating the residuals in blocks of m steps: the excess variance of a block is ≈ τ²/m + τ²_slow;
 * solving at m = 1 and m = M gives both (floored at 0). The detector uses v = p·q/n + τ²·Σn²/(Σn)² + τ²_slow.
 * Feed only mature cohorts, outside known incidents.
 */
import type { NoiseModel } from './scan-detector.js';

export interface Residual {
  starts: number;
  conversions: number;
  /** The baseline rate the detector would have used for this step. */
  expectedRate: number;
}

/** τ² per step by moments; 0 if there is no evidence of extra-binomial noise. */
export function estimateTau2(residuals: readonly Residual[]): number {
  const ok = residuals.filter((r) => r.starts > 0 && r.expectedRate > 0 && r.expectedRate < 1);
  if (ok.length < 2) return 0;
  let sum = 0;
  for (const r of ok) {
    const p = r.expectedRate;
    sum += (r.conversions / r.starts - p) ** 2 - (p * (1 - p)) / r.starts;
  }
  const first = Math.max(0, sum / ok.length);
  let num = 0, den = 0;
  for (const r of ok) {
    const p = r.expectedRate;
    const b = (p * (1 - p)) / r.starts;
    const w = 1 / (b + first) ** 2;
    num += w * ((r.conversions / r.starts - p) ** 2 - b);
    den += w;
  }
  return Math.max(0, num / den);
}

/** Fast (per-step) and slow (persistent over `blockSteps`) components of the rate wobble. */
export function estimateNoiseProfile(residuals: readonly Residual[], blockSteps = 60): NoiseModel {
  const e1 = blockExcess(residuals, 1);
  const eM = blockExcess(residuals, blockSteps);
  if (e1 === null || eM === null) return { tau2: Math.max(0, e1 ?? 0), tau2Slow: 0 };
  // e_m ≈ τ²/m + τ²_slow (for roughly constant volume within a block).
  const slow = Math.max(0, (blockSteps * eM - e1) / (blockSteps - 1));
  const fast = Math.max(0, e1 - slow);
  return { tau2: fast, tau2Slow: slow };
}

/** Mean excess variance of block residual rates over the binomial variance, or null with < 2 blocks. */
function blockExcess(residuals: readonly Residual[], m: number): number | null {
  const blocks: { excess: number; weight: number }[] = [];
  for (let i = 0; i + m <= residuals.length; i += m) {
    let s = 0, c = 0, e = 0, bv = 0;
    for (let j = i; j < i + m; j++) {
      const r = residuals[j]!;
      if (!(r.starts > 0 && r.expectedRate > 0 && r.expectedRate < 1)) continue;
      s += r.starts;
      c += r.conversions;
      e += r.starts * r.expectedRate;
      bv += r.starts * r.expectedRate * (1 - r.expectedRate);
    }
    if (s <= 0) continue;
    const resid = (c - e) / s;
    const binom = bv / (s * s);
    blocks.push({ excess: resid * resid - binom, weight: 1 / (binom * binom) });
  }
  if (blocks.length < 2) return null;
  // Inverse-variance weighting of the squared residuals (their variance ∝ binomial variance squared).
  let num = 0, den = 0;
  for (const b of blocks) {
    num += b.weight * b.excess;
    den += b.weight;
  }
  return num / den;
}
