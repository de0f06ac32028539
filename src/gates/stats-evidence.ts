/**
 * The evidence of the canary gate: e-processes on the log rate ratio θ = log(canary rate / baseline rate).
 *
 * Each arm's cumulative rate p̂ = X/N (successes over effective trials) has, by the delta method, var(log p̂) ≈
 * 1/X − Q/N² with Q = Σ_m N_m²/E_m over the minutes m (E_m entered, N_m = E_m·G_m effective trials): a cohort that
 * has delivered only the share G of its successes is Binomial(E, pG), so its variance is pG(1−pG)E, not p(1−p)N.
 * For mature cohorts (G = 1) this is the familiar (1−p)/(pN). With θ̂ the difference of the logs, V the sum of the
 * two variances, information I = 1/V and score S = θ̂·I, S behaves like a Brownian motion with drift θ in the
 * information clock I (the usual large-sample approximation of group-sequential theory), whatever the baseline
 * rate: the nuisance parameter is plugged in through V, and the A/A simulation of the bench checks the result.
 *
 * Fail side (H0 "no harm", θ ≥ 0): a mixture of Wald's likelihood ratio against the configured harm θ1 = log(1 −
 * drop), exp(θ1·S − θ1²·I/2), and a one-sided mSPRT (half-normal mixture over θ < 0, which catches very large drops
 * sooner). Each is a nonnegative supermartingale for every θ ≥ 0, so their average is too; crossing 1/α fails with
 * probability ≤ α at any stopping time (Ville).
 * Pass side (H1 "harm ≥ drop", θ ≤ θ1): the mirror image around θ1 (Wald's ratio of θ = 0 against θ1, and a
 * half-normal mixture over θ > θ1); crossing 1/β with β = 1 − power passes a harmful canary with probability ≤ β.
 */
import { normCdf } from '../detect/normal.js';

/** Cumulative counts of one arm: effective trials N, successes X, and Q = Σ N_m²/E_m (= N when all mature). */
export interface ArmSums {
  n: number;
  x: number;
  q: number;
}

export interface EvidenceDesign {
  /** log(1 − drop) < 0. */
  theta1: number;
  /** Weight of Wald's ratio in the mixture (the rest on the mSPRT). */
  waldWeight: number;
  /** Prior variance τ² of the half-normal mSPRT mixtures. */
  tau2: number;
  /** ρ of the two-sided normal-mixture confidence sequence (information units). */
  csRho: number;
}

export interface Evidence {
  /** θ̂, or NaN when an arm has no successes and no trials. */
  theta: number;
  /** Fisher information of θ̂ (1/variance); 0 without data. */
  info: number;
  logFail: number;
  logPass: number;
}

const LOG_2PI_HALF = 0.5 * Math.log(2 * Math.PI);

/** log Φ(z), accurate in the far lower tail (asymptotic Mills-ratio series below −8). */
export function logNormCdf(z: number): number {
  if (z > -8) return Math.log(normCdf(z));
  const x = -z;
  const x2 = x * x;
  return -0.5 * x2 - Math.log(x) - LOG_2PI_HALF + Math.log(1 - 1 / x2 + 3 / (x2 * x2) - 15 / (x2 * x2 * x2));
}

/** log(e^a + e^b) without overflow. */
export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

/** Rate and var(log rate) of one arm; a zero count gets half a success (so a dead canary still has a finite log). */
export function armLogRate(arm: ArmSums): { logRate: number; variance: number } | null {
  if (!(arm.n > 0)) return null;
  const x = arm.x > 0.5 ? arm.x : 0.5;
  const n = Math.max(arm.n, x);
  const p = x / n;
  // 1/X − Q/N² = (1 − p·Q/N)/X; Q/N ≤ 1 (G ≤ 1); guard against rounding and successes beyond trials.
  const variance = Math.max(1 - p * Math.min(1, arm.q / arm.n), 1e-9 * p) / x;
  return { logRate: Math.log(p), variance };
}

/**
 * log of the one-sided half-normal mixture of Gaussian likelihood ratios, ∫_{u>0} exp(u·s − u²·I/2) 2N(u; 0, τ²)du,
 * for a score s in the favoured direction (positive s = evidence for u > 0):
 * 2·Φ(s/√a)·exp(s²/(2a))/√(1 + τ²I) with a = I + 1/τ² (Johari et al.'s mSPRT restricted to one side).
 */
export function halfNormalMixtureLogE(s: number, info: number, tau2: number): number {
  const a = info + 1 / tau2;
  return Math.LN2 - 0.5 * Math.log1p(tau2 * info) + (s * s) / (2 * a) + logNormCdf(s / Math.sqrt(a));
}

/**
 * Johari et al. (2017) two-sided mSPRT, Λ = √(V/(V+nτ²))·exp(n²τ²(Δ̂−θ0)²/(2V(V+nτ²))), in information form
 * (I = n/V, s = (Δ̂−θ0)·I): Λ = exp(τ²s²/(2(1+τ²I)))/√(1+τ²I). Returned as log Λ (used by the tests as the
 * published reference the one-sided version is checked against).
 */
export function msprtLogE(s: number, info: number, tau2: number): number {
  return (tau2 * s * s) / (2 * (1 + tau2 * info)) - 0.5 * Math.log1p(tau2 * info);
}

/** Both e-processes (logs) at score S and information I. */
export function evidenceAt(theta: number, info: number, d: EvidenceDesign): Evidence {
  if (!(info > 0) || !Number.isFinite(theta)) return { theta, info: 0, logFail: 0, logPass: 0 };
  const s = theta * info;
  const waldFail = d.theta1 * s - 0.5 * d.theta1 * d.theta1 * info;
  const sPass = s - d.theta1 * info; // score centred on the harm θ1
  const w = d.waldWeight;
  const logFail =
    w >= 1 ? waldFail : logAddExp(Math.log(w) + waldFail, Math.log1p(-w) + halfNormalMixtureLogE(-s, info, d.tau2));
  const logPass =
    w >= 1 ? -waldFail : logAddExp(Math.log(w) - waldFail, Math.log1p(-w) + halfNormalMixtureLogE(sPass, info, d.tau2));
  return { theta, info, logFail, logPass };
}

/**
 * θ̂ and the information I for the tests, from the two arms (null when either arm has no trials). The variances
 * use the pooled rate of both arms (the rate they share under "no harm"), as a score test does: with the arm's own
 * rate a canary with no successes at all would carry almost no information on the log scale and never fail.
 */
export function logRatio(canary: ArmSums, baseline: ArmSums): { theta: number; info: number } | null {
  const c = armLogRate(canary);
  const b = armLogRate(baseline);
  if (!c || !b) return null;
  const pooled = Math.min(1, Math.max(canary.x + baseline.x, 0.5) / (canary.n + baseline.n));
  const v = (arm: ArmSums) => Math.max(1 - pooled * Math.min(1, arm.q / arm.n), 1e-9) / (pooled * arm.n);
  return { theta: c.logRate - b.logRate, info: 1 / (v(canary) + v(baseline)) };
}

/** var(θ̂) from each arm's own rate (for the confidence sequence, which must hold away from θ = 0 too). */
export function logRatioVariance(canary: ArmSums, baseline: ArmSums): number | null {
  const c = armLogRate(canary);
  const b = armLogRate(baseline);
  return c && b ? c.variance + b.variance : null;
}

/**
 * Two-sided normal-mixture confidence sequence for θ (Robbins; Howard et al. 2021 eq. 14) with total miscoverage
 * `a` over all times: θ ∈ θ̂ ± √((I+ρ)(log((I+ρ)/ρ) + 2 log(1/a)))/I.
 */
export function confidenceSequence(theta: number, info: number, rho: number, a: number): [number, number] {
  const half = Math.sqrt((info + rho) * (Math.log((info + rho) / rho) + 2 * Math.log(1 / a))) / info;
  return [theta - half, theta + half];
}

/**
 * ρ that makes the normal-mixture boundary tightest at intrinsic time m (Howard et al. 2021, eq. 15 approx.):
 * ρ = m / (2 log(1/a) + log(1 + 2 log(1/a))).
 */
export function optimalRho(m: number, a: number): number {
  const l = 2 * Math.log(1 / a);
  return m / (l + Math.log(1 + l));
}
