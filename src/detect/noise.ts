/**
 * Extra-binomial noise estimated from history (statistics.md §1.2).
 *
 * The true rate wobbles from minute to minute (traffic mix, promotions). Against the baseline the residual
 * r_i = p̂_i − p0_i has variance p0q0/n_i + τ². Method of moments (DerSimonian–Laird form): τ̂² is the mean of
 * r_i² − p0q0/n_i, weighted by 1/v_i² (the inverse variance of a squared residual) with v_i from a first
 * unweighted pass, floored at 0.
 *
 * Wobble that persists across minutes does not average out over a window, and how fast it fades decides how
 * much a window of w minutes gains from its length. `estimateNoiseProfile` aggregates the residuals in blocks
 * of m steps and fits the excess variance of a block rate (over its binomial variance) as
 *     e(m) = τ²/m + τ²_slow·f(m, ρ) + τ²_persistent,   f(m, ρ) = (1/m²)·Σ_{i,j<m} ρ^|i−j|,
 * i.e. white noise + an AR(1) part with time constant T (ρ = e^{−1/T}) + a part constant over any window.
 * Residuals against a baseline also carry the baseline's own error (slot and level factor, correlated over
 * an hour or more); the detector adds the baseline's stated variance itself, so each residual may bring it
 * along (`baselineVariance`) and the block excess is taken net of it (treated as constant within a block).
 * T is chosen on a grid, the three variances by non-negative weighted least squares. The old
 * two-term model (τ²_slow constant across the window) fitted at m = 1 and 60 on a 30-minute AR(1) wobble
 * under-states the variance of 4–16-minute windows by ~8 % and pages ~2× the budget.
 * Feed only mature cohorts, outside known incidents.
 */
import type { NoiseModel } from './scan-detector.js';

export interface Residual {
  starts: number;
  conversions: number;
  /** The baseline rate the detector would have used for this step. */
  expectedRate: number;
  /**
   * Variance of that baseline rate as the baseline states it (`BaselineEstimate.variance`, absolute rate²).
   * The fit subtracts it, so the profile is the wobble of the true rate and the detector, which adds the
   * baseline's variance itself, does not count the baseline's error twice. Absent: the profile includes the
   * baseline's error (safe, but slower detection).
   */
  baselineVariance?: number;
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
  let num = 0,
    den = 0;
  for (const r of ok) {
    const p = r.expectedRate;
    const b = (p * (1 - p)) / r.starts;
    const w = 1 / (b + first) ** 2;
    num += w * ((r.conversions / r.starts - p) ** 2 - b);
    den += w;
  }
  return Math.max(0, num / den);
}

/** f(m, ρ): variance of the mean of m consecutive steps of a unit-variance AR(1) with lag-one correlation ρ. */
export function ar1BlockFactor(m: number, rho: number): number {
  if (m <= 1) return 1;
  if (rho >= 1 - 1e-12) return 1;
  if (rho <= 0) return 1 / m;
  const q = 1 - rho;
  return ((m * (1 + rho)) / q - (2 * rho * (1 - Math.pow(rho, m))) / (q * q)) / (m * m);
}

export interface NoiseProfileOptions {
  /** Largest block in steps; default 60 (see below). */
  maxBlockSteps?: number;
  /** Minutes per step, to express the AR(1) time constant in minutes; default 1. */
  stepMinutes?: number;
}

const BLOCKS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 45, 60, 90, 120, 180, 240, 360, 480];
const TIME_CONSTANTS = [1.5, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45, 64, 90, 128, 180, 256, 360, 512];

/**
 * Fast (white), slow (AR(1), `slowMinutes`) and persistent components of the rate wobble, from residuals of
 * mature cohorts against the baseline, oldest first, one per step. A number as second argument is the largest
 * block (backward compatible).
 */
export function estimateNoiseProfile(
  residuals: readonly Residual[],
  options: NoiseProfileOptions | number = {},
): NoiseModel {
  const o = typeof options === 'number' ? { maxBlockSteps: options } : options;
  const maxBlock = Math.max(2, o.maxBlockSteps ?? 60);
  const stepMinutes = o.stepMinutes ?? 1;
  const pts: { m: number; e: number; w: number }[] = [];
  for (const m of BLOCKS) {
    if (m > maxBlock || residuals.length / m < 8) continue;
    const b = blockExcess(residuals, m);
    if (b) pts.push({ m, e: b.excess, w: 1 / b.variance });
  }
  const e1 = pts.find((p) => p.m === 1)?.e ?? 0;
  if (pts.length < 3) return { tau2: Math.max(0, e1), tau2Slow: 0, slowMinutes: stepMinutes, tau2Persistent: 0 };
  let best = { sse: Infinity, coef: [Math.max(0, e1), 0, 0], T: 1 };
  for (const T of TIME_CONSTANTS) {
    const rho = Math.exp(-1 / T);
    const rows = pts.map((p) => [1 / p.m, ar1BlockFactor(p.m, rho), 1]);
    const fit = nnls3(
      rows,
      pts.map((p) => p.e),
      pts.map((p) => p.w),
    );
    if (fit.sse < best.sse - 1e-15) best = { sse: fit.sse, coef: fit.coef, T };
  }
  const [fast, slow, persistent] = best.coef as [number, number, number];
  return { tau2: fast, tau2Slow: slow, slowMinutes: best.T * stepMinutes, tau2Persistent: persistent };
}

/** Non-negative weighted least squares with three columns, by trying every active set (7 of them). */
function nnls3(rows: readonly number[][], y: readonly number[], w: readonly number[]): { coef: number[]; sse: number } {
  let best = { coef: [0, 0, 0], sse: Infinity };
  for (let mask = 1; mask < 8; mask++) {
    const cols = [0, 1, 2].filter((c) => mask & (1 << c));
    const k = cols.length;
    // Normal equations A·x = b over the active columns.
    const A = cols.map(() => new Array<number>(k).fill(0));
    const b = new Array<number>(k).fill(0);
    for (let i = 0; i < rows.length; i++) {
      for (let r = 0; r < k; r++) {
        b[r]! += w[i]! * rows[i]![cols[r]!]! * y[i]!;
        for (let c = 0; c < k; c++) A[r]![c]! += w[i]! * rows[i]![cols[r]!]! * rows[i]![cols[c]!]!;
      }
    }
    const x = solve(A, b);
    if (!x || x.some((v) => !(v >= 0))) continue;
    const coef = [0, 0, 0];
    cols.forEach((c, r) => (coef[c] = x[r]!));
    let sse = 0;
    for (let i = 0; i < rows.length; i++) {
      const pred = coef[0]! * rows[i]![0]! + coef[1]! * rows[i]![1]! + coef[2]! * rows[i]![2]!;
      sse += w[i]! * (y[i]! - pred) ** 2;
    }
    if (sse < best.sse) best = { coef, sse };
  }
  if (best.sse === Infinity) {
    let sse = 0;
    for (let i = 0; i < y.length; i++) sse += w[i]! * y[i]! ** 2;
    best = { coef: [0, 0, 0], sse };
  }
  return best;
}

/** Gaussian elimination with partial pivoting; null if singular. */
function solve(A: number[][], b: number[]): number[] | null {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    if (!(Math.abs(M[p]![c]!) > 1e-300)) return null;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const x = M.map((row, i) => row[n]! / row[i]!);
  // Reject numerically meaningless solutions of near-collinear columns.
  return x.every((v) => Number.isFinite(v)) ? x : null;
}

/**
 * Inverse-variance weighted mean excess variance of block residual rates over their binomial variance, and
 * the variance of that estimate; null with fewer than 2 blocks.
 */
function blockExcess(residuals: readonly Residual[], m: number): { excess: number; variance: number } | null {
  const blocks: { excess: number; binom: number }[] = [];
  for (let i = 0; i + m <= residuals.length; i += m) {
    let s = 0,
      c = 0,
      e = 0,
      bv = 0,
      sd = 0;
    for (let j = i; j < i + m; j++) {
      const r = residuals[j]!;
      if (!(r.starts > 0 && r.expectedRate > 0 && r.expectedRate < 1)) continue;
      s += r.starts;
      c += r.conversions;
      e += r.starts * r.expectedRate;
      bv += r.starts * r.expectedRate * (1 - r.expectedRate);
      sd += r.starts * Math.sqrt(Math.max(0, r.baselineVariance ?? 0));
    }
    if (s <= 0) continue;
    const resid = (c - e) / s;
    const binom = bv / (s * s) + (sd / s) ** 2;
    blocks.push({ excess: resid * resid - binom, binom });
  }
  if (blocks.length < 2) return null;
  // A squared Gaussian residual has variance 2·(its variance)²: weight by the inverse of that.
  const weighted = (ex: number) => {
    let num = 0,
      den = 0,
      den2 = 0;
    for (const b of blocks) {
      const v = b.binom + ex;
      const w = 1 / (v * v);
      num += w * b.excess;
      den += w;
      den2 += w * w * 2 * v * v;
    }
    return { excess: num / den, variance: den2 / (den * den) };
  };
  const first = weighted(0);
  return weighted(Math.max(0, first.excess));
}

/**
 * One step's residual of a funnel-wide series whose expectation is risk-adjusted by segment (mix shift ignored):
 * the expectation the detector uses is Σ S_v·p_v / S (each value at its own baseline rate), so the noise must be
 * measured around that, not around the funnel-wide baseline. Against the funnel-wide baseline, a campaign's
 * low-converting traffic reads as a 10 % "wobble" lasting hours; fitted as slow or persistent noise, it blinds
 * the detector to real drops for the half day the fit remembers it.
 *
 * `total` is the funnel-wide step (its starts, conversions and own baseline rate); `parts` the same step of each
 * segment value with that value's baseline rate. Starts not covered by a value with a usable rate (new values,
 * values beyond the cap) keep the funnel-wide rate, as the detector's adjustment does. The baseline variances
 * combine as independent estimates weighted by starts. Null when the step has no usable expectation.
 */
export function riskAdjustedResidual(total: Residual, parts: readonly (Residual | null)[]): Residual | null {
  const S = total.starts;
  if (!(S > 0)) return null;
  let covered = 0,
    e = 0,
    v = 0;
  for (const p of parts) {
    if (!p || !(p.starts > 0) || !(p.expectedRate > 0 && p.expectedRate < 1)) continue;
    covered += p.starts;
    e += p.starts * p.expectedRate;
    v += p.starts * p.starts * (p.baselineVariance ?? 0);
  }
  const rest = Math.max(0, S - covered);
  if (rest > 0) {
    if (!(total.expectedRate > 0 && total.expectedRate < 1)) return null;
    e += rest * total.expectedRate;
    v += rest * rest * (total.baselineVariance ?? 0);
  }
  const denom = Math.max(S, covered);
  const rate = e / denom;
  if (!(rate > 0 && rate < 1)) return null;
  return { starts: S, conversions: total.conversions, expectedRate: rate, baselineVariance: v / (denom * denom) };
}
