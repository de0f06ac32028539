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

/**
 * One arm's cohorts so far: mature ones (all successes arrived, G = 1) summed, young ones (G < 1) kept apart,
 * each with its entries E, completeness G and the successes x seen so far (x ~ Binomial(E, p·G)).
 */
export interface ArmData {
  /** Effective trials Σ E·G and successes Σ x (for the reported counts). */
  n: number;
  x: number;
  matureE: number;
  matureX: number;
  youngE: number[];
  youngG: number[];
  youngX: number[];
}

export function emptyArm(): ArmData {
  return { n: 0, x: 0, matureE: 0, matureX: 0, youngE: [], youngG: [], youngX: [] };
}

/** Add one minute's cohort: effective trials (E·G), successes seen, entries E (default: trials, i.e. mature). */
export function addCohort(arm: ArmData, trials: number, successes: number, entered: number = trials): void {
  if (!(trials > 0)) return;
  const e = Math.max(entered, trials);
  const g = trials / e;
  arm.n += trials;
  arm.x += successes;
  if (g >= 1 - 1e-12) {
    arm.matureE += e;
    arm.matureX += successes;
  } else {
    arm.youngE.push(e);
    arm.youngG.push(g);
    arm.youngX.push(successes);
  }
}

/**
 * Maximum-likelihood rate of one arm: the root of the score X/p − Σ (E − x)·G/(1 − pG) (Newton from X/N). With
 * cohorts of different completeness it weighs each by G/(1 − pG) rather than by G as X/N does; that matters: X/N
 * over-weighs young cohorts, and as their late successes arrive the statistic swings back, which, asked every
 * minute, fails good canaries more often than α. The likelihood of the arrivals so far depends on the data only
 * through (E, G, x) per cohort, so the MLE's score process has independent increments as data arrive. A zero
 * count gets half a success (a dead canary still has a finite log). Null without trials.
 */
export function armRate(arm: ArmData): number | null {
  if (!(arm.n > 0)) return null;
  const x = arm.x > 0.5 ? arm.x : 0.5;
  let gMax = arm.matureE > 0 ? 1 : 0;
  for (const g of arm.youngG) gMax = Math.max(gMax, g);
  const pMax = (1 - 1e-9) / gMax;
  let p = Math.min(x / arm.n, pMax);
  const matureRest = Math.max(arm.matureE - arm.matureX, 0);
  for (let it = 0; it < 30; it++) {
    let f = x / p - matureRest / (1 - p);
    let df = -x / (p * p) - matureRest / ((1 - p) * (1 - p));
    for (let i = 0; i < arm.youngE.length; i++) {
      const g = arm.youngG[i]!;
      const rest = Math.max(arm.youngE[i]! - arm.youngX[i]!, 0);
      const d = 1 - p * g;
      f -= (rest * g) / d;
      df -= (rest * g * g) / (d * d);
    }
    let next = p - f / df;
    if (!(next > 0)) next = p / 2;
    if (next > pMax) next = (p + pMax) / 2;
    if (Math.abs(next - p) <= 1e-12 * p) return next;
    p = next;
  }
  return p;
}

/**
 * One side's e-process: a weighted average (weights summing to 1) of Wald likelihood ratios against alternatives
 * `multiple`·|θ1| away from the hypothesis in the direction tested, and of a half-normal mSPRT with prior scale τ.
 */
export interface SideDesign {
  wald: readonly { weight: number; multiple: number }[];
  msprtWeight: number;
  /** τ² of the half-normal mixture (log-ratio units). */
  tau2: number;
}

export interface EvidenceDesign {
  /** log(1 − drop) < 0. */
  theta1: number;
  fail: SideDesign;
  pass: SideDesign;
}

/** log e-value of one side for a score s in its direction (s > 0 = evidence against the hypothesis). */
export function sideLogE(s: number, info: number, harm: number, side: SideDesign): number {
  let acc = -Infinity;
  for (const c of side.wald) {
    if (!(c.weight > 0)) continue;
    const alt = c.multiple * harm;
    acc = logAddExp(acc, Math.log(c.weight) + alt * s - 0.5 * alt * alt * info);
  }
  if (side.msprtWeight > 0)
    acc = logAddExp(acc, Math.log(side.msprtWeight) + halfNormalMixtureLogE(s, info, side.tau2));
  return acc;
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

/** log e-value against H: θ ≥ θ0 (the fail side at θ0 = 0) from the efficient score S and information I at θ0. */
export function logEvidenceBelow(score: number, info: number, d: EvidenceDesign): number {
  if (!(info > 0) || !Number.isFinite(score)) return 0;
  return sideLogE(-score, info, -d.theta1, d.fail);
}

/** log e-value against H: θ ≤ c (the pass side at c = θ1) from the score and information at c. */
export function logEvidenceAbove(score: number, info: number, d: EvidenceDesign): number {
  if (!(info > 0) || !Number.isFinite(score)) return 0;
  return sideLogE(score, info, -d.theta1, d.pass);
}

/** θ̂ = log(canary rate) − log(baseline rate) (maximum likelihood); null when either arm has no trials. */
export function logRatio(canary: ArmData, baseline: ArmData): number | null {
  const c = armRate(canary);
  const b = armRate(baseline);
  return c === null || b === null ? null : Math.log(c) - Math.log(b);
}

/**
 * The efficient score S and information I for θ at θ = θ0, the baseline rate p profiled out (its maximum-
 * likelihood value under θ0, the canary's rate being p·e^θ0). Per cohort of E entries, completeness G and x
 * successes, with q = p·G (·e^θ0 for the canary): the canary's score is Σ (x − E·q)/(1 − q), the information
 * weights W = Σ E·q/(1 − q) per arm, and I = W_c·W_b/(W_c + W_b). S is a sum of observed-minus-expected counts, so
 * it stays close to normal at small counts where θ̂ = log of a ratio is skewed (a Wald statistic θ̂·I failed good
 * canaries too often at 5 canary entries a minute), and it needs no correction for a canary with no successes.
 */
export function scoreAt(canary: ArmData, baseline: ArmData, theta0: number): { score: number; info: number } {
  if (!(canary.n > 0 && baseline.n > 0)) return { score: 0, info: 0 };
  const r = Math.exp(theta0);
  const xTot = canary.x + baseline.x;
  if (!(xTot > 0)) return { score: 0, info: 0 };
  let gMax = baseline.matureE > 0 ? 1 : 0;
  for (const g of baseline.youngG) gMax = Math.max(gMax, g);
  gMax = Math.max(gMax, (canary.matureE > 0 ? 1 : 0) * r);
  for (const g of canary.youngG) gMax = Math.max(gMax, g * r);
  const pMax = (1 - 1e-9) / gMax;
  let p = Math.min(xTot / (canary.n * r + baseline.n), pMax);
  // Newton on the profile score for p: xTot/p − Σ (E − x)·G·m/(1 − p·G·m) = 0 (m = r for the canary, 1 else).
  for (let it = 0; it < 50; it++) {
    let f = xTot / p;
    let df = -xTot / (p * p);
    const add = (e: number, x: number, gm: number) => {
      const rest = Math.max(e - x, 0);
      const dd = 1 - p * gm;
      f -= (rest * gm) / dd;
      df -= (rest * gm * gm) / (dd * dd);
    };
    add(canary.matureE, canary.matureX, r);
    add(baseline.matureE, baseline.matureX, 1);
    for (let i = 0; i < canary.youngE.length; i++) add(canary.youngE[i]!, canary.youngX[i]!, canary.youngG[i]! * r);
    for (let i = 0; i < baseline.youngE.length; i++) add(baseline.youngE[i]!, baseline.youngX[i]!, baseline.youngG[i]!);
    let next = p - f / df;
    if (!(next > 0)) next = p / 2;
    if (next > pMax) next = (p + pMax) / 2;
    const done = Math.abs(next - p) <= 1e-12 * p;
    p = next;
    if (done) break;
  }
  let score = 0;
  let wc = 0;
  let wb = 0;
  const cohortC = (e: number, x: number, g: number) => {
    const q = p * g * r;
    score += (x - e * q) / (1 - q);
    wc += (e * q) / (1 - q);
  };
  const cohortB = (e: number, g: number) => {
    const q = p * g;
    wb += (e * q) / (1 - q);
  };
  if (canary.matureE > 0) cohortC(canary.matureE, canary.matureX, 1);
  if (baseline.matureE > 0) cohortB(baseline.matureE, 1);
  for (let i = 0; i < canary.youngE.length; i++) cohortC(canary.youngE[i]!, canary.youngX[i]!, canary.youngG[i]!);
  for (let i = 0; i < baseline.youngE.length; i++) cohortB(baseline.youngE[i]!, baseline.youngG[i]!);
  if (!(wc > 0 && wb > 0)) return { score: 0, info: 0 };
  return { score, info: (wc * wb) / (wc + wb) };
}

/** log e-values of the two decisions: against "no harm" (θ ≥ 0) and against "harm ≥ drop" (θ ≤ θ1). */
export function decisionEvidence(
  canary: ArmData,
  baseline: ArmData,
  d: EvidenceDesign,
): { theta: number; logFail: number; logPass: number; info: number } | null {
  const theta = logRatio(canary, baseline);
  if (theta === null) return null;
  const at0 = scoreAt(canary, baseline, 0);
  const at1 = scoreAt(canary, baseline, d.theta1);
  return {
    theta,
    logFail: logEvidenceBelow(at0.score, at0.info, d),
    logPass: logEvidenceAbove(at1.score, at1.info, d),
    info: at0.info,
  };
}

/**
 * The confidence bounds that invert the two tests (θ on the log scale): the upper bound is the smallest θ0 whose
 * "θ ≥ θ0" is rejected at level `a` (so fail ⇔ upper < 0), the lower bound the largest c whose "θ ≤ c" is rejected
 * at level `b` (so pass ⇔ lower > θ1). Anytime-valid like the tests (a confidence sequence at each side's level).
 * ±Infinity when no bound within ±20 (e^20) is reached.
 */
export function confidenceBounds(
  canary: ArmData,
  baseline: ArmData,
  d: EvidenceDesign,
  a: number,
  b: number,
): { lower: number; upper: number } | null {
  const theta = logRatio(canary, baseline);
  if (theta === null) return null;
  const failAt = Math.log(1 / a);
  const passAt = Math.log(1 / b);
  const sd = 1 / Math.sqrt(Math.max(scoreAt(canary, baseline, theta).info, 1e-12));
  const upper = search(theta, sd, (t0) => {
    const s = scoreAt(canary, baseline, t0);
    return logEvidenceBelow(s.score, s.info, d) >= failAt;
  });
  const lower = -search(-theta, sd, (mc) => {
    const s = scoreAt(canary, baseline, -mc);
    return logEvidenceAbove(s.score, s.info, d) >= passAt;
  });
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
