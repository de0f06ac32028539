/**
 * Likelihood building blocks for counts.
 *
 * The detector never uses a Wald z (SE from the observed rate): on small counts it is badly anti-conservative
 * (statistics.md §1.1: 12× the nominal error at n = 10). Instead each window is scored by the *signed root of
 * the binomial (or Poisson) deviance* against the expected count. For large counts this equals the score z
 * (SE from the null rate); for small counts it keeps the skew of the exact likelihood, which is what makes a
 * 40-start night window behave like the exact binomial test rather than like a normal approximation.
 */

/** KL(a‖b) for Bernoulli(a) against Bernoulli(b), in nats. */
export function klBernoulli(a: number, b: number): number {
  return xlogy(a, a / b) + xlogy(1 - a, (1 - a) / (1 - b));
}

/** x·ln(y) with the 0·ln(·) = 0 convention. */
function xlogy(x: number, ratio: number): number {
  return x === 0 ? 0 : x * Math.log(ratio);
}

/**
 * Binomial deviance 2·[O ln(O/E) + (N−O) ln((N−O)/(N−E))] of O successes in N trials against an expected
 * count E (i.e. null rate E/N). Zero when O = E.
 */
export function binomialDeviance(observed: number, expected: number, trials: number): number {
  if (trials <= 0 || expected <= 0) return 0;
  const o = Math.min(Math.max(observed, 0), trials);
  const e = Math.min(expected, trials * (1 - 1e-12));
  const d = 2 * (xlogy(o, o / e) + xlogy(trials - o, (trials - o) / (trials - e)));
  return d > 0 ? d : 0;
}

/** Poisson deviance 2·[O ln(O/E) − (O − E)]. */
export function poissonDeviance(observed: number, expected: number): number {
  if (expected <= 0) return 0;
  const o = Math.max(observed, 0);
  const d = 2 * (xlogy(o, o / expected) - (o - expected));
  return d > 0 ? d : 0;
}

/**
 * Signed root deviance: positive when the observed count is *below* expectation (a drop), negative above.
 * Approximately N(0, 1) under the null, with far better tails than the Wald statistic on small counts.
 */
export function signedRootDeviance(
  family: 'binomial' | 'poisson',
  observed: number,
  expected: number,
  trials: number,
): number {
  const dev =
    family === 'binomial' ? binomialDeviance(observed, expected, trials) : poissonDeviance(observed, expected);
  const r = Math.sqrt(dev);
  return observed < expected ? r : -r;
}
