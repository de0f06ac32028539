import { detectChange, insufficientDetection } from './scan-detector.js';
import { recentChange } from './recent-change.js';
import {
  afterResolve,
  HOUR,
  MINUTE,
  SCAN_BUCKETS,
  scanCap,
  stepIndex,
  type RuleLook,
  type SeriesResult,
} from './rule-look.js';
import { FALLBACK_TRAILING_MS } from './series-baseline.js';
import { segmentKey, type SegmentRef } from './series-reader.js';
import { bucketValue } from '../windows/histogram.js';

/** Durations above the percentile's bucket a baseline needs before a duration rule judges (q0 known to ±22 %). */
export const MIN_BASELINE_ABOVE = 20;

/**
 * step_duration: "p95 got 30 % slower" as a binomial test on the share of durations above the baseline's
 * percentile D. If every duration grew by the factor 1 + c, the share above D would become the baseline share
 * above D/(1 + c); that share's relative increase is the change the scan looks for.
 */
export function evaluateDuration(look: RuleLook, seg: SegmentRef | null, budget: number): SeriesResult {
  const { rule, funnel, reader, evalTo } = look;
  if (rule.metric.kind !== 'step_duration') throw new Error('not a duration rule');
  const from = stepIndex(funnel, rule.metric.from);
  const to = stepIndex(funnel, rule.metric.to);
  const pct = rule.metric.percentile;
  const b = funnel.bucketMs;
  const n = SCAN_BUCKETS;
  const first = evalTo - n * b;
  const empty = (reason: string): SeriesResult => ({
    rule: rule.name,
    segment: seg,
    baseline: { kind: 'trailing' },
    noise: { tau2: 0, tau2Slow: 0 },
    onset: null,
    unlearnedYoung: 0,
    recent: { relativeChange: 0, buckets: 0, expected: 0 },
    detection: { ...insufficientDetection(reason), onsetIndex: null, onsetStepsAgo: null },
  });
  if (to !== from + 1) return empty('durations are recorded between adjacent steps only');
  const spanMs = rule.baseline.kind === 'trailing' ? rule.baseline.windowMs : FALLBACK_TRAILING_MS;
  const end = Math.min(look.frozenBefore?.get(segmentKey(seg)) ?? Infinity, evalTo - HOUR);
  const base = new Map<number, number>();
  let total = 0;
  for (let t = Math.floor(end / b) * b - spanMs; t < Math.floor(end / b) * b; t += b) {
    for (const [k, c] of Object.entries(reader.durations(t, to) ?? {})) {
      base.set(Number(k), (base.get(Number(k)) ?? 0) + c);
      total += c;
    }
  }
  if (total < rule.minVolume) return empty(`fewer than min_volume (${rule.minVolume}) durations in the baseline span`);
  const sorted = [...base.entries()].sort((a, b2) => a[0] - b2[0]);
  // D: the bucket holding the percentile; "above D" = strictly higher buckets.
  let acc = 0,
    dIdx = sorted[sorted.length - 1]![0];
  for (const [k, c] of sorted) {
    acc += c;
    if (acc >= pct * total) {
      dIdx = k;
      break;
    }
  }
  const above = (h: ReadonlyMap<number, number> | Readonly<Record<number, number>>, thr: number): number => {
    let s = 0;
    for (const [k, c] of h instanceof Map ? h.entries() : Object.entries(h)) if (Number(k) > thr) s += Number(c);
    return s;
  };
  const q0 = above(base, dIdx) / total;
  const shifted = bucketValue(dIdx) / (1 + rule.minChange);
  let shiftedIdx = 0;
  for (const [k] of sorted) if (bucketValue(k) <= shifted) shiftedIdx = k;
  const q1 = above(base, shiftedIdx) / total;
  if (!(q0 > 0 && q0 < 1)) return empty('baseline durations have no spread above the percentile');
  const change = Math.min(0.99, Math.max(0.05, q1 / q0 - 1));
  const trials = new Float64Array(n),
    succ = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const h = reader.durations(first + i * b, to);
    if (!h) continue;
    let c = 0;
    for (const x of Object.values(h)) c += x;
    trials[i] = c;
    succ[i] = above(h, dIdx);
  }
  // q0 is a share counted in the baseline's own durations: a young baseline (the first minutes of an install) holds
  // a handful above D, and D sits where that sample ran out. Taken as exact, its sampling error paged steady
  // traffic; so a baseline needs MIN_BASELINE_ABOVE durations above D, and q0's binomial error, relative,
  // (1 − q0)/(total·q0), widens the scan's variance.
  const aboveD = q0 * total;
  if (aboveD < MIN_BASELINE_ABOVE)
    return empty(
      `baseline too young: ${Math.round(aboveD)} of its durations above p${Math.round(pct * 100)}, ` +
        `needs ${MIN_BASELINE_ABOVE}`,
    );
  const baselineRelVariance = (1 - q0) / aboveD;
  const cap = scanCap(look, segmentKey(seg));
  const detection = detectChange({
    series: { starts: trials, conversions: succ, expectedRate: q0 },
    drop: change,
    direction: 'increase',
    baselineRelVariance,
    falseAlarmsPerWeek: budget,
    stepMinutes: b / MINUTE,
    minVolume: rule.minVolume,
    noise: { tau2: 0, tau2Slow: 0 },
    resolveAfterMinutes: rule.resolveAfterMs / MINUTE,
    maxWindowSteps: cap,
  });
  if (cap !== undefined) afterResolve(detection);
  return {
    rule: rule.name,
    segment: seg,
    detection,
    baseline: { kind: 'trailing' },
    noise: { tau2: 0, tau2Slow: 0 },
    onset: detection.onsetIndex === null ? null : first + detection.onsetIndex * b,
    unlearnedYoung: 0,
    recent: recentChange(
      succ,
      Float64Array.from(trials, (t) => t * q0),
      'increase',
    ),
  };
}
