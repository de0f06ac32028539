/**
 * The theoretical delay limit the benchmark compares against (detection.md, statistics.md §2.2, §3.2).
 *
 * For i.i.d. binomial minutes with known p0 → p1, Page's CUSUM is exactly optimal (Moustakides 1986). In the
 * Brownian approximation (Shiryaev 1996) its delay at ARL0 = γ is (e^{−h} + h − 1)/I with h ≈ ln(γ·I), i.e.
 *     D* ≈ [ln(γ·I) − 1] / I,     I = n·KL(p1‖p0) nats per step.
 * The formula is invariant to the time unit (γ in steps, I per step); with per-step evaluation no detector can
 * page before the first post-change step, so the limit is floored at one step (10,000 starts/min → 1 min).
 *
 * 1,000 starts/min, 0.60 → 0.57, one false alarm per week: I = 1.861 nats/min, D* = 4.75 min (the exact
 * per-minute Markov chain gives 4.73 steady state, 4.86 worst case).
 *
 * `tau2` optionally adds extra-binomial variance (v = p0·q0/n + τ²): the information per step is then the
 * Gaussian δ²/(2v) (statistics.md §3.6) — the honest limit on a stream with a 1 pp wobble, which no detector
 * can beat however it is built.
 */
import { klBernoulli } from './likelihood.js';

export const MINUTES_PER_WEEK = 10_080;

export interface CusumLimitInput {
  /** Starts per minute. */
  n: number;
  /** Pre-change conversion rate. */
  p0: number;
  /** Post-change conversion rate. */
  p1: number;
  /** False-alarm budget (ARL0 = one week / this). */
  falseAlarmsPerWeek: number;
  /** Evaluation step in minutes (1 = every minute). */
  stepMinutes: number;
  /** Optional extra-binomial variance of the per-minute rate (absolute, rate²). */
  tau2?: number;
}

export interface CusumLimit {
  /** Expected detection delay of the optimal CUSUM, minutes (≥ one step). */
  delayMinutes: number;
  /** Information per minute, nats. */
  informationPerMinute: number;
  /** ARL0 in minutes. */
  arl0Minutes: number;
  /** The CUSUM threshold h ≈ ln(γ·I) in nats (Brownian approximation). */
  threshold: number;
}

export function cusumDelayLimit(input: CusumLimitInput): CusumLimit {
  const { n, p0, p1, falseAlarmsPerWeek, stepMinutes } = input;
  if (!(n > 0) || !(p0 > 0 && p0 < 1) || !(p1 >= 0 && p1 < 1) || !(falseAlarmsPerWeek > 0) || !(stepMinutes > 0)) {
    throw new RangeError(`cusumDelayLimit: invalid input ${JSON.stringify(input)}`);
  }
  const tau2 = input.tau2 ?? 0;
  const perMinute = tau2 > 0 ? (p0 - p1) ** 2 / (2 * ((p0 * (1 - p0)) / n + tau2)) : n * klBernoulli(p1, p0);
  const arl0Minutes = MINUTES_PER_WEEK / falseAlarmsPerWeek;
  const iStep = perMinute * stepMinutes;
  const gammaSteps = arl0Minutes / stepMinutes;
  const h = Math.log(gammaSteps * iStep);
  const steps = Math.max(1, (h - 1) / iStep);
  return { delayMinutes: steps * stepMinutes, informationPerMinute: perMinute, arl0Minutes, threshold: Math.max(h, 0) };
}

export interface LaggedLimitInput extends CusumLimitInput {
  /**
   * Share of a cohort's eventual completions that has arrived at each look after its minute (index = age in
   * steps, 0 = the first look that includes the cohort); ages past the end count as complete.
   */
  completeness: readonly number[];
}

export interface LaggedLimit extends CusumLimit {
  /** The same limit without lag (`cusumDelayLimit`), for comparison. */
  iidDelayMinutes: number;
}

/**
 * The CUSUM limit evaluated with the information that has actually arrived (a reference figure, not a proof).
 *
 * With conversion lag a cohort of age k carries only the information of its arrived completions:
 * O ~ Bin(n, p·G(k)), so I(k) = n·KL(p1·G‖p0·G) (with τ²: the Gaussian (δG)²/(2(p0G(1 − p0G)/n + τ²G²))).
 * The false-alarm side is unchanged (in steady state every cohort matures, I∞ per step), so the threshold is
 * still h ≈ ln(γ·I∞); the optimal detector needs the same (h − 1) nats of post-change drift, which after D
 * looks is J(D) = Σ_{k<D} I(k). The delay is the D (interpolated between looks) at which J(D) = h − 1,
 * floored at one step. With G ≡ 1 this is exactly `cusumDelayLimit`.
 */
export function cusumDelayLimitLagged(input: LaggedLimitInput): LaggedLimit {
  const iid = cusumDelayLimit(input);
  const { n, p0, p1, stepMinutes } = input;
  const tau2 = input.tau2 ?? 0;
  const info = (g: number): number => {
    if (!(g > 0)) return 0;
    const gg = Math.min(1, g);
    const perMinute =
      tau2 > 0
        ? ((p0 - p1) * gg) ** 2 / (2 * ((p0 * gg * (1 - p0 * gg)) / n + tau2 * gg * gg))
        : n * klBernoulli(p1 * gg, p0 * gg);
    return perMinute * stepMinutes;
  };
  const iStep = iid.informationPerMinute * stepMinutes;
  const need = Math.max(0, Math.log((iid.arl0Minutes / stepMinutes) * iStep) - 1);
  let j = 0;
  let d: number;
  for (let k = 0; ; k++) {
    const g = k < input.completeness.length ? input.completeness[k]! : 1;
    const add = info(g);
    if (j + add >= need) {
      d = k + (add > 0 ? (need - j) / add : 0);
      break;
    }
    j += add;
    if (k > 1e6) {
      d = Infinity;
      break;
    }
  }
  return { ...iid, delayMinutes: Math.max(1, d) * stepMinutes, iidDelayMinutes: iid.delayMinutes };
}
