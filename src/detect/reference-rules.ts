/**
 * Two reference rules, written as a reasonable team would, so the benchmark can show what the statistics buy.
 * Both work on ratio-of-counts by arrival time (completions that arrived in the window ÷ starts in the window),
 * as a metrics dashboard computes them — including its conversion-lag artefacts.
 *
 * 1. Prometheus-style: `ratio over 10m < 0.95 × same time last week, for 5m`, i.e.
 *      (increase(orders[10m]) / increase(checkouts[10m])) < 0.95 * (… offset 1w)   for: 5m
 *    The condition is evaluated every minute; the alert fires once it has held for 5 minutes (the sixth
 *    consecutive true evaluation, as Prometheus counts `for`).
 * 2. "2 standard deviations": the 5-minute ratio is below mean − 2·SD of the twenty-four 5-minute ratios of the
 *    previous two hours, for 5m. This is the common Grafana/Datadog-style "band" alert.
 * The `for` logic is the caller's (the benchmark uses one state machine for every rule).
 */
import type { Counts } from './counts.js';

/** Condition of the Prometheus-style rule; null when either side has no starts (Prometheus: no data → no alert). */
export function prometheusRatioCondition(current10m: Counts, lastWeek10m: Counts, factor = 0.95): boolean | null {
  if (current10m.starts <= 0 || lastWeek10m.starts <= 0) return null;
  return current10m.conversions / current10m.starts < factor * (lastWeek10m.conversions / lastWeek10m.starts);
}

/**
 * Condition of the 2-SD rule: `current` (5-minute window) against the non-overlapping 5-minute windows of the
 * previous 2 hours (`history`); null with fewer than 3 usable history windows.
 */
export function twoSigmaCondition(current: Counts, history: readonly Counts[], k = 2): boolean | null {
  const rates = history.filter((h) => h.starts > 0).map((h) => h.conversions / h.starts);
  if (current.starts <= 0 || rates.length < 3) return null;
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const sd = Math.sqrt(rates.reduce((a, r) => a + (r - mean) ** 2, 0) / (rates.length - 1));
  return current.conversions / current.starts < mean - k * sd;
}
