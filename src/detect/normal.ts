/**
 * Standard normal helpers, in one place so the rest of detect/ never touches the stdlib packages directly.
 *
 * Upper tails are computed as Φ(−x), not 1 − Φ(x): at the thresholds a weekly budget implies (z ≈ 3.5–4.5,
 * tails 1e-4–1e-6) the subtraction would throw away most significant digits.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Φ(x). */
export function normCdf(x: number): number {
  return normalCdf(x, 0, 1);
}

/** 1 − Φ(x), accurate in the far upper tail. */
export function normSf(x: number): number {
  return normalCdf(-x, 0, 1);
}

/** φ(x). */
export function normPdf(x: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

/** Φ⁻¹(p). */
export function normQuantile(p: number): number {
  return normalQuantile(p, 0, 1);
}
