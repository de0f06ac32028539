/**
 * Conversion lag and late events as a completeness curve (statistics.md §5.2, §5.5).
 *
 * Completions/starts in the same minute dips on every traffic surge (a 20 % surge with a 5-minute mean lag looks
 * like a 7–16 % drop). Instead the detector works on cohorts (completions by the minute their checkout started)
 * and expects, for a cohort of age a, only the share G(a) of its eventual completions that has *arrived* by now —
 * conversion lag and ingestion lateness in one curve. Young cohorts then contribute their partial information
 * immediately (no waiting for cohorts to mature, which would add the p99 lag to every detection).
 *
 * G is estimated from history: for mature cohorts, Σ observed-by-age / Σ final. It is itself a monitored
 * quantity — a payment-latency incident changes it.
 */

export interface CohortArrival {
  /** Completions of the cohort as seen at ages 0, 1, 2, … steps (cumulative). */
  observedByAge: ArrayLike<number>;
  /** The cohort's final completions. */
  final: number;
}

/** Empirical completeness G[a] (non-decreasing, ≤ 1) from mature cohorts; ages beyond the data are 1. */
export function estimateCompleteness(cohorts: readonly CohortArrival[], maxAge: number): number[] {
  const num = new Float64Array(maxAge + 1);
  let den = 0;
  for (const c of cohorts) {
    if (!(c.final > 0) || c.observedByAge.length < maxAge + 1) continue;
    den += c.final;
    for (let a = 0; a <= maxAge; a++) num[a]! += Math.min(c.observedByAge[a] ?? 0, c.final);
  }
  const g: number[] = [];
  let prev = 0;
  for (let a = 0; a <= maxAge; a++) {
    const v = den > 0 ? num[a]! / den : 1;
    prev = Math.min(1, Math.max(prev, v));
    g.push(prev);
  }
  return g;
}

/** G at an age in steps (ages past the curve are complete). */
export function completenessAt(curve: readonly number[], age: number): number {
  if (age < 0) return 0;
  return age < curve.length ? curve[age]! : 1;
}
