/**
 * Per-window thresholds of the multi-window scan, derived analytically from a false-alarm budget in pages per
 * week — no simulation needed at rule-load time.
 *
 * Why not Φ⁻¹(1 − α)? The scan looks every step, and windows overlap: a w-step window evaluated every step is a
 * moving sum whose normalised value has correlation 1 − k/w at lag k. False alarms come in clumps, and what the
 * budget limits is the rate of clumps (up-crossings), not the per-look tail probability.
 *
 * For a moving-sum Gaussian process the up-crossing rate of level c per step is (Siegmund 1985; Siegmund &
 * Venkatraman 1995, the discrete-time correction ν):
 *     α_w(c) ≈ min( Φ̄(c),  c·φ(c)/w · ν(c·√(2/w)) ),
 *     ν(x) = (2/x)(Φ(x/2) − ½) / ((x/2)Φ(x/2) + φ(x/2)).
 * For w = 1 consecutive looks are independent and the rate is Φ̄(c). Solving α_w(c) = 1/γ for a single window
 * reproduces the Monte-Carlo calibrations of statistics.md §3.3 (1-min 3.72 vs 3.75, 5-min 3.65 vs 3.67,
 * 15-min 3.49 vs 3.51, 240-min 2.71 vs 2.73) — within discreteness of the binomial.
 *
 * Across windows the budget is split equally (Bonferroni on clump rates): each of K windows gets 1/(K·γ).
 * Neighbouring windows are correlated, so the union fires less than the sum — the split is conservative by
 * roughly 1.3× in rate (statistics.md's single-threshold scan needs c = 4.10; the split gives 4.2–4.3 on short
 * windows). That slack is deliberate: baseline error and residual autocorrelation (§3.6–3.7) push real false
 * alarm rates up, and the benchmark measures what is left.
 */
import { MINUTES_PER_WEEK } from './cusum-limit.js';
import { normCdf, normPdf, normSf } from './normal.js';

/** Default scan windows in steps: doubling from 1 to 128, then 240 (4 h at one-minute steps). */
export const DEFAULT_WINDOWS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 240];

export interface ScanThresholdsInput {
  falseAlarmsPerWeek: number;
  /** Minutes between evaluations (and the width of one bucket). */
  stepMinutes: number;
  /** Window lengths in steps. */
  windows?: readonly number[];
}

export interface ScanThresholds {
  windows: readonly number[];
  /** Threshold on the one-sided z (signed root deviance / √φ), one per window. */
  thresholds: readonly number[];
  /** Up-crossing rate allotted to each window, per look. */
  perWindowRate: number;
  /** Looks per week. */
  looksPerWeek: number;
}

/** Siegmund's discrete-monitoring overshoot correction ν(x). */
export function siegmundNu(x: number): number {
  if (x < 1e-8) return 1;
  const h = x / 2;
  const ph = normCdf(h);
  return ((2 / x) * (ph - 0.5)) / (h * ph + normPdf(h));
}

/** Approximate rate (per look) at which a w-step moving-window z statistic up-crosses c under the null. */
export function upcrossingRate(windowSteps: number, c: number): number {
  const tail = normSf(c);
  if (windowSteps <= 1) return tail;
  const clump = ((c * normPdf(c)) / windowSteps) * siegmundNu(c * Math.sqrt(2 / windowSteps));
  return Math.min(tail, clump);
}

/** The c at which `upcrossingRate(w, c)` equals `rate` (bisection; the rate is decreasing in c). */
export function thresholdForRate(windowSteps: number, rate: number): number {
  let lo = 0;
  let hi = 40;
  for (let i = 0; i < 80; i++) {
    const mid = (lo + hi) / 2;
    if (upcrossingRate(windowSteps, mid) > rate) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

const cache = new Map<string, ScanThresholds>();

/** Thresholds for a budget; memoised because rules share a handful of budgets. */
export function scanThresholds(input: ScanThresholdsInput): ScanThresholds {
  const windows = input.windows ?? DEFAULT_WINDOWS;
  if (!(input.falseAlarmsPerWeek > 0) || !(input.stepMinutes > 0) || windows.length === 0) {
    throw new RangeError(`scanThresholds: invalid input ${JSON.stringify(input)}`);
  }
  const key = `${input.falseAlarmsPerWeek}|${input.stepMinutes}|${windows.join(',')}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const looksPerWeek = MINUTES_PER_WEEK / input.stepMinutes;
  const perWindowRate = input.falseAlarmsPerWeek / looksPerWeek / windows.length;
  const result: ScanThresholds = {
    windows: [...windows],
    thresholds: windows.map((w) => thresholdForRate(w, perWindowRate)),
    perWindowRate,
    looksPerWeek,
  };
  cache.set(key, result);
  return result;
}
