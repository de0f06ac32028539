/**
 * The evidence of the canary gate: e-processes on the log rate ratio θ = log(canary rate / baseline rate).
 *
 * Each arm's cumulative rate p̂ = X/N (successes over effective trials) has, by the delta method, var(log p̂) ≈
 * (1 − p·Q/N)/(p·N) with Q = Σ_m N_m²/E_m over the minutes m (E_m entered, N_m = E_m·G_m effective trials): a
 * cohort that has delivered only the share G of its successes is Binomial(E, pG), so its variance is pG(1−pG)E,
 * not p(1−p)N. For mature cohorts (G = 1) this is the familiar (1−p)/(pN). With θ̂ the difference of the logs and I
 * the information (1/variance, the rates taken under the hypothesis tested, as a score test does), the score
 * S = θ̂·I behaves like a Brownian motion with drift θ in the information clock I (the large-sample approximation
 * of group-sequential theory) whatever the baseline rate: the nuisance is plugged in through I, and the A/A
 * simulation of the bench checks the result.
 *
 * Fail side (H0 "no harm", θ ≥ 0): a mixture of Wald's likelihood ratio against the configured harm θ1 = log(1 −
 * drop), exp(θ1·S − θ1²·I/2), and a one-sided mSPRT (half-normal mixture over θ < 0, which catches very large drops
 * sooner). Each is a nonnegative supermartingale for every θ ≥ 0, so their average is too; crossing 1/α fails with
 * probability ≤ α at any stopping time (Ville).
 * Pass side (H1 "harm ≥ drop", θ ≤ θ1): the mirror image around θ1 (Wald's ratio of θ = 0 against θ1, and a
 * half-normal mixture over θ > θ1); crossing 1/β with β = 1 − power passes a harmful canary with probability ≤ β.
 * Inverting both families gives the confidence bounds reported with the verdict.
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

/** log of one arm's rate; a zero count gets half a success (so a dead canary still has a finite log). */
export function armLogRate(arm: ArmSums): number | null {
  if (!(arm.n > 0)) return null;
  const x = arm.x > 0.5 ? arm.x : 0.5;
  return Math.log(x / Math.max(arm.n, x));
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

/**
 * log e-value against H: θ ≥ θ0 (the fail side at θ0 = 0): Wald's ratio of θ0 + θ1 against θ0 mixed with the
 * half-normal mSPRT over θ < θ0, at estimate θ̂ with information I (taken under θ0).
 */
export function logEvidenceBelow(theta: number, info: number, theta0: number, d: EvidenceDesign): number {
  if (!(info > 0) || !Number.isFinite(theta)) return 0;
  const s = (theta - theta0) * info;
  const wald = d.theta1 * s - 0.5 * d.theta1 * d.theta1 * info;
  const w = d.waldWeight;
  if (w >= 1) return wald;
  return logAddExp(Math.log(w) + wald, Math.log1p(-w) + halfNormalMixtureLogE(-s, info, d.tau2));
}

/**
 * log e-value against H: θ ≤ c (the pass side at c = θ1): Wald's ratio of c + |θ1| against c mixed with the
 * half-normal mSPRT over θ > c.
 */
export function logEvidenceAbove(theta: number, info: number, c: number, d: EvidenceDesign): number {
  if (!(info > 0) || !Number.isFinite(theta)) return 0;
  const s = (theta - c) * info;
  const wald = -d.theta1 * s - 0.5 * d.theta1 * d.theta1 * info;
  const w = d.waldWeight;
  if (w >= 1) return wald;
  return logAddExp(Math.log(w) + wald, Math.log1p(-w) + halfNormalMixtureLogE(s, info, d.tau2));
}

/** θ̂ = log(canary rate) − log(baseline rate); null when either arm has no trials. */
export function logRatio(canary: ArmSums, baseline: ArmSums): number | null {
  const c = armLogRate(canary);
  const b = armLogRate(baseline);
  return c === null || b === null ? null : c - b;
}

/**
 * Information of θ̂ under the hypothesis θ = θ0, as a score test takes it: the variances use the rates the two
 * arms would share under θ0 (baseline p = (X_c + X_b)/(N_c·e^θ0 + N_b), canary p·e^θ0), not each arm's own rate.
 * With its own rate a canary with no successes at all would carry almost no information on the log scale and
 * never fail; under θ0 = 0 it carries the information of its trials.
 */
export function informationUnder(canary: ArmSums, baseline: ArmSums, theta0: number): number {
  if (!(canary.n > 0 && baseline.n > 0)) return 0;
  const r = Math.exp(theta0);
  const pb = Math.min(1, Math.max(canary.x + baseline.x, 0.5) / (canary.n * r + baseline.n));
  const pc = Math.min(1, pb * r);
  const v = (arm: ArmSums, p: number) => Math.max(1 - p * Math.min(1, arm.q / arm.n), 1e-9) / (p * arm.n);
  return 1 / (v(canary, pc) + v(baseline, pb));
}

/** log e-values of the two decisions: against "no harm" (θ ≥ 0) and against "harm ≥ drop" (θ ≤ θ1). */
export function decisionEvidence(
  canary: ArmSums,
  baseline: ArmSums,
  d: EvidenceDesign,
): { theta: number; logFail: number; logPass: number } | null {
  const theta = logRatio(canary, baseline);
  if (theta === null) return null;
  return {
    theta,
    logFail: logEvidenceBelow(theta, informationUnder(canary, baseline, 0), 0, d),
    logPass: logEvidenceAbove(theta, informationUnder(canary, baseline, d.theta1), d.theta1, d),
  };
}

/**
 * The confidence bounds that invert the two tests (θ on the log scale): the upper bound is the smallest θ0 whose
 * "θ ≥ θ0" is rejected at level `a` (so fail ⇔ upper < 0), the lower bound the largest c whose "θ ≤ c" is rejected
 * at level `b` (so pass ⇔ lower > θ1). Anytime-valid like the tests (a confidence sequence at each side's level).
 * ±Infinity when no bound within ±20 (e^20) is reached.
 */
export function confidenceBounds(
  canary: ArmSums,
  baseline: ArmSums,
  d: EvidenceDesign,
  a: number,
  b: number,
): { lower: number; upper: number } | null {
  const theta = logRatio(canary, baseline);
  if (theta === null) return null;
  const failAt = Math.log(1 / a);
  const passAt = Math.log(1 / b);
  const sd = 1 / Math.sqrt(Math.max(informationUnder(canary, baseline, theta), 1e-12));
  const upper = search(
    theta,
    sd,
    (t0) => logEvidenceBelow(theta, informationUnder(canary, baseline, t0), t0, d) >= failAt,
  );
  const lower = -search(
    -theta,
    sd,
    (mc) => logEvidenceAbove(theta, informationUnder(canary, baseline, -mc), -mc, d) >= passAt,
  );
  return { lower, upper };
}

/**
 * Smallest x ≥ from with ok(x), ok monotone false → true: steps out from `from` by doubling `step` (up to a
 * distance of 20), then bisects to 1e-7; Infinity when not reached.
 */
function search(from: number, step: number, ok: (x: number) => boolean): number {
  if (ok(from)) return from;
  let lo = from;
  let hi = from + step;
  while (!ok(hi)) {
    if (hi - from > 20) return Infinity;
    lo = hi;
    step *= 2;
    hi = from + step;
  }
  for (let i = 0; i < 60 && hi - lo > 1e-7; i++) {
    const mid = 0.5 * (lo + hi);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
