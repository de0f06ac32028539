/**
 * Sequential sample-ratio-mismatch (SRM) check on the entry counts of two arms.
 *
 * Lindon & Malek (2022) / GrowthBook gbstats `ssrm.py`: under H0 the arms' entries are multinomial with the expected
 * shares p0; the alternative puts a Dirichlet(k·p0) prior on the shares. The Bayes factor of the counts so far,
 *
 *     BF = [B(k·p0 + x) / B(k·p0)] / Π p0_i^x_i        (B the multivariate beta function)
 *
 * is a nonnegative martingale under H0 (a ratio of the prior predictive to the null likelihood), so by Ville's
 * inequality P(sup BF ≥ 1/a) ≤ a and p = min over time of 1/BF is an anytime-valid p-value. For two arms the
 * Dirichlet-multinomial is the beta-binomial. GrowthBook's concentration k is 10 000; the gate uses 1 000: a
 * prior spread of about ±1 point around a 10 % share, so the large mismatches of misrouted or sticky canary
 * traffic are found within a few hundred to a thousand entries (minutes at 100 entries a minute, before the test
 * can pass), at the price of slower detection of sub-point mismatches. Valid for any k.
 */

/** Concentration k of the Dirichlet prior around the expected split. */
export const SRM_CONCENTRATION = 1_000;

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * log of the Dirichlet-multinomial Bayes factor for counts `x` against expected shares `p0` (same length, p0 sums
 * to 1), prior concentration k. Counts may be fractional (the formula is smooth in them).
 */
export function srmLogBayesFactor(x: readonly number[], p0: readonly number[], k: number = SRM_CONCENTRATION): number {
  let n = 0;
  let lbf = 0;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    const ai = k * p0[i]!;
    n += xi;
    lbf += logGamma(ai + xi) - logGamma(ai);
    if (xi > 0) lbf -= xi * Math.log(p0[i]!);
  }
  return lbf + logGamma(k) - logGamma(k + n);
}
