/**
 * The one exponential backoff: the delay before retry `attempt` (0-based) grows as baseMs · 2^attempt up to capMs,
 * with jitter so replicas that failed together do not retry together. `random` is injected (a value in [0, 1)),
 * so tests and simulations choose it.
 *   - full:  uniform in [0, ceiling]       (spreads retries most; a delay may be near zero)
 *   - equal: uniform in [ceiling/2, ceiling]  (never less than half: for loops that must not spin)
 *   - none:  the ceiling itself
 */
export type Jitter = 'full' | 'equal' | 'none';

export interface BackoffPolicy {
  /** Ceiling of the first retry (attempt 0), ms. */
  baseMs: number;
  /** Largest ceiling, ms. */
  capMs: number;
  jitter: Jitter;
}

/** 2^60 · any sane base is still finite; beyond it the cap applies anyway, so larger attempts add nothing. */
const MAX_EXPONENT = 60;

/** The ceiling for `attempt`: baseMs · 2^attempt, capped; safe for any attempt (huge, negative, NaN). */
export function backoffCeilingMs(attempt: number, baseMs: number, capMs: number): number {
  const base = Math.max(0, Number.isFinite(baseMs) ? baseMs : 0);
  const cap = Math.max(0, Number.isFinite(capMs) ? capMs : 0);
  const n = attempt > 0 ? Math.min(Math.floor(attempt), MAX_EXPONENT) : 0; // NaN and negatives: attempt 0
  return Math.min(cap, base * 2 ** n);
}

/** The delay before retry `attempt`, in whole ms, within [0, capMs]. */
export function backoffMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = backoffCeilingMs(attempt, policy.baseMs, policy.capMs);
  if (policy.jitter === 'none') return Math.round(ceiling);
  // Clamp a random source that strays out of [0, 1) rather than return a delay outside the bounds.
  const r = Math.min(1, Math.max(0, random()));
  const u = Number.isFinite(r) ? r : 0;
  const delay = policy.jitter === 'full' ? u * ceiling : ceiling / 2 + (u * ceiling) / 2;
  return Math.round(delay);
}
