/**
 * One series of a conversion rule (cohort or ratio): counts per scan bucket, completeness of young cohort
 * buckets, the baseline rate (risk-adjusted by segment under `mix_shift: ignore`), the noise, then the scan.
 */
import { detectChange } from './scan-detector.js';
import { recentChange } from './recent-change.js';
import {
  MINUTE,
  matureAgeBuckets,
  SCAN_BUCKETS,
  scanCap,
  afterResolve,
  type Extractor,
  type MixAdjust,
  type RuleLook,
  type SegSeries,
  type SeriesResult,
} from './rule-look.js';
import { baselineRates, type Rates } from './series-baseline.js';
import type { NoiseModel } from './scan-detector.js';
import { noiseFor, type NoiseRows } from './series-noise.js';
import { segmentKey, type SegmentRef } from './series-reader.js';

/**
 * A trailing baseline fitted on less data than its window asks for (the first hour of an install, or a series that
 * just appeared) carries the wobble of the few minutes it rests on: the fast part averaged over its buckets, the
 * slow (AR(1)) part barely averaged at all. Its binomial variance alone claims a precision it does not have, and
 * that paged on ordinary noise; so add both, relative to its rate. A full window's wobble is in the fitted noise.
 */
function youngBaselineRelVariance(base: Rates, noise: NoiseModel): number {
  const est = base.newest;
  const k = est.buckets ?? 0;
  if (est.kind !== 'trailing' || !(est.rate > 0) || k <= 0 || !(base.wantedBuckets > k)) return 0;
  const slowMinutes = noise.slowMinutes ?? Infinity;
  const slowShare = Math.min(1, (2 * slowMinutes) / (k * base.bucketMinutes));
  return (noise.tau2 / k + (noise.tau2Slow ?? 0) * slowShare) / (est.rate * est.rate);
}

export function evaluateBinomial(
  look: RuleLook,
  seg: SegmentRef | null,
  budget: number,
  ex: Extractor,
  mix: MixAdjust | null,
  scratch: Map<string, NoiseRows>,
): { result: SeriesResult; rates: Float64Array; starts: Float64Array } {
  const { rule, funnel, reader, evalTo } = look;
  const b = funnel.bucketMs;
  const n = SCAN_BUCKETS;
  const first = evalTo - n * b;
  const key = segmentKey(seg);
  const frozen = look.frozenBefore?.get(key);
  const starts = new Float64Array(n);
  const conv = new Float64Array(n);
  const comp = new Float64Array(n).fill(1);
  const mature = matureAgeBuckets(funnel);
  let unlearned = 0;
  for (let i = 0; i < n; i++) {
    const v = reader.fine(first + i * b, seg);
    if (!v) continue;
    const age = n - 1 - i;
    if (ex.cohort && age < mature) {
      const g = look.completeness?.[age];
      if (g === undefined || !(g > 0)) {
        if (ex.trials(v) > 0) unlearned++;
        continue; // left out: starts 0 means "no data" to the detector
      }
      comp[i] = g;
    }
    starts[i] = ex.trials(v);
    conv[i] = ex.successes(v);
  }
  const cap = scanCap(look, key);
  const base = baselineRates(look, seg, ex, frozen);
  const rates = base.rates;
  let expected: Float64Array = rates;
  if (mix) {
    // Risk adjustment: what the funnel would convert at if every segment value converted at its own baseline.
    expected = new Float64Array(n);
    const segs = mix.segs.map((sg) => mix.series.get(segmentKey(sg))).filter((x): x is SegSeries => x !== undefined);
    for (let i = 0; i < n; i++) {
      let s = 0,
        e = 0;
      for (const sg of segs) {
        const r = sg.rates[i]!;
        if (!(r > 0)) continue;
        const t = sg.starts[i]!;
        s += t;
        e += t * r;
      }
      const total = starts[i]! > 0 ? starts[i]! : 0;
      // Values without a baseline (new ones) keep the funnel-wide rate for their share.
      expected[i] =
        total > 0 && s > 0 ? (e + Math.max(0, total - s) * (rates[i]! || e / s)) / Math.max(total, s) : rates[i]!;
    }
  }
  const noise = noiseFor(look, seg, ex, key, mix, scratch, base.newest.rate);
  const expConv = new Float64Array(n);
  for (let i = 0; i < n; i++) expConv[i] = starts[i]! * (expected[i]! || 0) * comp[i]!;
  const recent = recentChange(conv, expConv, rule.direction);
  const relVar =
    (Number.isFinite(base.newest.relVariance) ? base.newest.relVariance : 0) + youngBaselineRelVariance(base, noise);
  const detection = detectChange({
    series: { starts, conversions: conv, expectedRate: expected, completeness: comp },
    drop: rule.minChange,
    direction: rule.direction,
    baselineRelVariance: relVar,
    noise,
    falseAlarmsPerWeek: budget,
    stepMinutes: b / MINUTE,
    minVolume: rule.minVolume,
    resolveAfterMinutes: rule.resolveAfterMs / MINUTE,
    maxWindowSteps: cap,
  });
  if (cap !== undefined) afterResolve(detection);
  if (!Number.isFinite(base.newest.rate)) {
    detection.state = 'insufficient';
    detection.reason = 'no baseline: no mature history for this series yet';
  }
  return {
    result: {
      rule: rule.name,
      segment: seg,
      detection,
      baseline: base.label,
      noise,
      onset: detection.onsetIndex === null ? null : first + detection.onsetIndex * b,
      unlearnedYoung: unlearned,
      recent,
      scan: { budget, baselineRelVariance: relVar, resolveAfterMinutes: rule.resolveAfterMs / MINUTE },
    },
    rates,
    starts,
  };
}
