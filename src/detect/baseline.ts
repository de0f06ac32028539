/**
 * Baselines: what conversion rate to expect, and how sure we are of it (statistics.md §3.7, §4).
 *
 * The baseline error is the dominant false-alarm source: a baseline 0.5 % (relative) too high gives ~5 false
 * alarms a week at 1,000 starts/min. So every baseline returns its own variance, which the detector adds to the
 * test variance, and says which kind it is.
 *
 * - trailing: ratio of sums over the last H steps, excluding the recent span under test (otherwise the baseline
 *   adapts into the very drop it should reveal). Low variance, but blind to daily ramps.
 * - seasonal: the same minute-of-week slot (± a half-width) in each of the last k weeks; the week farthest from
 *   the median is trimmed (robust to one bad week: last Tuesday's outage must not lower this Tuesday's
 *   expectation), then a ratio of sums over the rest — volume-weighted, so quiet weeks count less. Its variance
 *   is binomial plus the between-week spread (method of moments). Times a slow level factor L = observed /
 *   seasonal-expected over recent hours (excluding the span under test), shrunk towards 1 by a pseudo-count, so
 *   week-over-week level shifts are tracked without absorbing a real drop.
 * - selectBaseline: a fresh install with fewer weeks than the rule asks for falls back to trailing and says so.
 */
import type { Counts } from './counts.js';

export type BaselineKind = 'trailing' | 'seasonal';

export interface BaselineEstimate {
  kind: BaselineKind;
  /** Expected conversion rate. */
  rate: number;
  /** Variance of the rate estimate (absolute, rate²). */
  variance: number;
  /** variance / rate² — what the detector's `baselineRelVariance` takes. */
  relVariance: number;
  /** Starts and conversions the estimate rests on. */
  starts: number;
  conversions: number;
  /** Trailing only: buckets with starts the estimate rests on. */
  buckets?: number;
  /** Seasonal only: weeks with data used after trimming, the trimmed week (1 = last week), the level factor. */
  weeksUsed?: number;
  trimmedWeek?: number | null;
  level?: number;
  /** Set when a seasonal baseline was asked for but could not be built. */
  fallback?: { wanted: 'seasonal'; reason: string };
}

export interface TrailingInput {
  /** Per-step counts, oldest first, ending at the newest step. */
  history: readonly Counts[];
  /** Steps of history to use (e.g. 120 for `trailing: 2h` at one-minute steps). */
  windowSteps: number;
  /** Newest steps to leave out (the span under test). */
  excludeRecentSteps?: number;
  /** Extra-binomial per-step variance, if known: adds τ²·Σn²/(Σn)². */
  tau2?: number;
  /** Relative variance for the drift of the rate across the trailing span (daily ramps); default 0. */
  driftRelVariance?: number;
}

export function trailingBaseline(input: TrailingInput): BaselineEstimate {
  const end = input.history.length - (input.excludeRecentSteps ?? 0);
  const start = Math.max(0, end - input.windowSteps);
  let s = 0,
    c = 0,
    s2 = 0,
    buckets = 0;
  for (let i = start; i < end; i++) {
    const h = input.history[i]!;
    if (h.starts > 0) buckets++;
    s += h.starts;
    c += h.conversions;
    s2 += h.starts * h.starts;
  }
  if (s <= 0)
    return { kind: 'trailing', rate: NaN, variance: Infinity, relVariance: Infinity, starts: 0, conversions: 0 };
  const rate = c / s;
  // Never report zero variance at a rate of 0 or 1: use the binomial variance of the rule of three.
  const pq = Math.max(rate * (1 - rate), 1 / (s + 1));
  const variance = pq / s + (input.tau2 ?? 0) * (s2 / (s * s)) + (input.driftRelVariance ?? 0) * rate * rate;
  return {
    kind: 'trailing',
    rate,
    variance,
    relVariance: rate > 0 ? variance / (rate * rate) : Infinity,
    starts: s,
    conversions: c,
    buckets,
  };
}

export interface SeasonalInput {
  /**
   * The slot (same minute-of-week ± half-width, summed) in each past week, most recent week first; null where
   * there is no history (fresh install, retention).
   */
  weeks: readonly (Counts | null)[];
  /** Weeks the rule asks for (`seasonal: {weeks: 4}`). */
  weeksWanted: number;
  /**
   * Level factor inputs over the recent hours before the span under test: conversions observed there, and the
   * conversions the seasonal slot rates predicted for the same starts.
   */
  level?: { observed: number; expected: number };
  /** Pseudo-count (expected conversions) shrinking the level factor towards 1. Default 200. */
  levelPrior?: number;
  /** Floor on the relative variance of the slot estimate (unmodelled week-to-week error). Default 0. */
  relVarianceFloor?: number;
}

export function seasonalBaseline(input: SeasonalInput): BaselineEstimate {
  const avail: { week: number; c: Counts; rate: number }[] = [];
  input.weeks.slice(0, input.weeksWanted).forEach((c, i) => {
    if (c && c.starts > 0) avail.push({ week: i + 1, c, rate: c.conversions / c.starts });
  });
  if (avail.length === 0)
    return {
      kind: 'seasonal',
      rate: NaN,
      variance: Infinity,
      relVariance: Infinity,
      starts: 0,
      conversions: 0,
      weeksUsed: 0,
    };
  let trimmedWeek: number | null = null;
  let used = avail;
  if (avail.length >= 3) {
    const rates = avail.map((a) => a.rate).sort((a, b) => a - b);
    const mid = rates.length / 2;
    const median = rates.length % 2 ? rates[Math.floor(mid)]! : (rates[mid - 1]! + rates[mid]!) / 2;
    let worst = 0;
    let worstDev = -1;
    avail.forEach((a, i) => {
      // Deviation in standard errors, so a quiet week's noisier rate is not mistaken for a bad week.
      const dev = Math.abs(a.rate - median) / Math.sqrt(Math.max(median * (1 - median), 1e-9) / a.c.starts);
      if (dev > worstDev) {
        worstDev = dev;
        worst = i;
      }
    });
    trimmedWeek = avail[worst]!.week;
    used = avail.filter((_, i) => i !== worst);
  }
  let s = 0,
    c = 0;
  for (const u of used) {
    s += u.c.starts;
    c += u.c.conversions;
  }
  const slot = c / s;
  const pq = Math.max(slot * (1 - slot), 1 / (s + 1));
  // Between-week variance of a slot's rate beyond binomial (moments); the estimate's variance is binomial
  // over the pooled starts plus that spread divided by the number of weeks pooled.
  let between = 0;
  if (used.length >= 2) {
    let ss = 0,
      binom = 0;
    for (const u of used) {
      ss += (u.rate - slot) ** 2;
      binom += pq / u.c.starts;
    }
    between = Math.max(0, ss / (used.length - 1) - binom / used.length);
  }
  const slotVar = pq / s + between / used.length;
  const slotRel = Math.max(slot > 0 ? slotVar / (slot * slot) : Infinity, input.relVarianceFloor ?? 0);
  let level = 1;
  let levelRel = 0;
  if (input.level && input.level.expected > 0) {
    const k = input.levelPrior ?? 200;
    level = (input.level.observed + k) / (input.level.expected + k);
    // Relative variance of a ratio of Poisson-like counts to a (nearly) known expectation.
    levelRel = 1 / (input.level.expected + k);
  }
  const rate = slot * level;
  const relVariance = slotRel + levelRel;
  return {
    kind: 'seasonal',
    rate,
    variance: relVariance * rate * rate,
    relVariance,
    starts: s,
    conversions: c,
    weeksUsed: used.length,
    trimmedWeek,
    level,
  };
}

export interface SelectBaselineInput {
  /** Present when the rule asks for `seasonal`. */
  seasonal?: SeasonalInput;
  /** Always present: the fallback and the `trailing` rule's baseline. */
  trailing: TrailingInput;
  /** Weeks of history a seasonal baseline needs before it is used; default `weeksWanted`. */
  minWeeks?: number;
}

/** The rule's baseline, or the trailing fallback with the reason, for the alert's evidence. */
export function selectBaseline(input: SelectBaselineInput): BaselineEstimate {
  if (!input.seasonal) return trailingBaseline(input.trailing);
  const have = input.seasonal.weeks.slice(0, input.seasonal.weeksWanted).filter((w) => w && w.starts > 0).length;
  const need = input.minWeeks ?? input.seasonal.weeksWanted;
  if (have >= need) return seasonalBaseline(input.seasonal);
  return {
    ...trailingBaseline(input.trailing),
    fallback: {
      wanted: 'seasonal',
      reason: `seasonal baseline needs ${need} week(s) of history, ${have} available: using the trailing baseline`,
    },
  };
}
