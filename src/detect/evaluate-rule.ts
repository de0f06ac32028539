/**
 * One rule, one look: from a funnel's per-bucket counts (series-reader.ts) to a detection per series (the whole funnel,
 * and each value of each `segments` dimension). Pure apart from its caches: no I/O, time passed in. The daemon's
 * evaluator (engine/evaluator.ts) and the detection benchmark both call `evaluateRule`.
 *
 * What a look does, per series (detection.md, statistics.md; each step's why is at its function):
 * 1. The series: the newest `SCAN_BUCKETS` cohort buckets up to `evalTo` (the end of the newest bucket the data
 *    watermark has completed): trials and successes per bucket, and for cohort metrics the completeness G(age) of
 *    each young bucket (engine/completeness.ts); young buckets whose G is not learned yet are left out.
 * 2. The baseline rate per bucket (baselineRates): seasonal (same slot in past weeks from rollups, trimmed, × a
 *    level factor) or trailing; a seasonal rule with too little history falls back to trailing and says so. While
 *    an alert is pending or firing its baseline is frozen at the onset, so a long incident does not become normal.
 * 3. Mix shift: with `mix_shift: ignore`, the funnel-wide expectation is risk-adjusted by the first segment
 *    dimension (Σ starts_v · p0_v): a campaign of low-intent traffic moves the expectation, not the alarm.
 * 4. Noise: extra-binomial τ² estimated hourly from the last 12 hours' residuals against the expectation the
 *    detector uses (for a risk-adjusted funnel-wide series, the segment-weighted one: a campaign must not read
 *    as noise).
 * 5. The scan detector (scan-detector.ts) at the rule's budget divided over the series it evaluates
 *    (Bonferroni), so `false_alarms: 1/week` is the rule's budget, not each segment value's.
 */
import type { AlertRuleDef } from '../rules/rule.js';
import { evaluateBinomial } from './binomial-series.js';
import { evaluateDuration } from './duration-series.js';
import { extractor, WEEK, type MixAdjust, type RuleLook, type SegSeries, type SeriesResult } from './rule-look.js';
import type { NoiseRows } from './series-noise.js';
import { segmentKey, type SegmentRef, type SeriesReader } from './series-reader.js';
import { evaluateVolume } from './volume-series.js';

/** The series the rule evaluates: the funnel, then each value of each segment dimension. */
export function ruleSeries(
  rule: AlertRuleDef,
  reader: SeriesReader,
  maxValues = 40,
  extra: readonly SegmentRef[] = [],
): (SegmentRef | null)[] {
  const out: (SegmentRef | null)[] = [null];
  if (rule.metric.kind === 'step_duration') return out; // durations are recorded funnel-wide only
  const seen = new Set<string>();
  for (const d of rule.segments) {
    for (const v of reader.values(d).slice(0, maxValues)) {
      seen.add(segmentKey({ dimension: d, value: v }));
      out.push({ dimension: d, value: v });
    }
  }
  for (const s of extra) {
    if (rule.segments.includes(s.dimension) && !seen.has(segmentKey(s))) out.push(s);
  }
  return out;
}

export function evaluateRule(look: RuleLook): SeriesResult[] {
  const { rule, reader } = look;
  const series = ruleSeries(rule, reader, look.maxValuesPerDimension, look.extraSegments);
  // The rule's page budget covers all its series: half to the funnel-wide series (the drop that matters most),
  // half split over the segment values (Bonferroni). Each share is rounded down to a power of √2: thresholds are
  // computed once per distinct budget (detect/thresholds.ts calibrates them), so the number of segment values
  // drifting by one must not create a new budget every minute. Rounding down keeps the rule within its budget.
  const segCount = series.length - 1;
  const overallBudget = quantizeBudget(segCount > 0 ? rule.falseAlarmsPerWeek / 2 : rule.falseAlarmsPerWeek);
  const budget = segCount > 0 ? quantizeBudget(rule.falseAlarmsPerWeek / 2 / segCount) : overallBudget;
  look.memory.prune(look.evalTo - WEEK * (rule.baseline.kind === 'seasonal' ? rule.baseline.weeks + 1 : 1));
  if (rule.metric.kind === 'step_volume')
    return series.map((seg) => evaluateVolume(look, seg, seg ? budget : overallBudget));
  if (rule.metric.kind === 'step_duration')
    return series.map((seg) => evaluateDuration(look, seg, seg ? budget : overallBudget));
  const ex = extractor(rule, look.funnel)!;
  // Baselines of the segment values first: the funnel-wide series may need them for the mix-shift adjustment.
  const perSeg = new Map<string, SegSeries>();
  const results: SeriesResult[] = [];
  const scratch = new Map<string, NoiseRows>();
  for (const seg of series.slice(1)) {
    const r = evaluateBinomial(look, seg, budget, ex, null, scratch);
    perSeg.set(segmentKey(seg), { rates: r.rates, starts: r.starts });
    results.push(r.result);
  }
  let mix: MixAdjust | null = null;
  if (rule.mixShift === 'ignore' && rule.segments.length > 0) {
    const dim = rule.segments[0]!;
    mix = { segs: series.filter((s): s is SegmentRef => s !== null && s.dimension === dim), series: perSeg };
  }
  results.unshift(evaluateBinomial(look, null, overallBudget, ex, mix, scratch).result);
  return results;
}

/** The largest power of √2 not above `b`. */
export function quantizeBudget(b: number): number {
  const k = Math.floor(Math.log(b) / Math.log(Math.SQRT2) + 1e-9);
  return Math.pow(Math.SQRT2, k);
}
