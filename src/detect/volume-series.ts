import { detectVolumeChange } from './volume-detector.js';
import { recentChange } from './recent-change.js';
import {
  HOUR,
  MINUTE,
  SCAN_BUCKETS,
  scanCap,
  afterResolve,
  stepIndex,
  type Extractor,
  type RuleLook,
  type SeriesResult,
} from './rule-look.js';
import { FALLBACK_TRAILING_MS, slotEstimate, trimmedMean } from './series-baseline.js';
import { segmentKey, type SegmentRef } from './series-reader.js';

/** step_volume: counts against the seasonal (or trailing) volume of the same bucket, Poisson family. */
export function evaluateVolume(look: RuleLook, seg: SegmentRef | null, budget: number): SeriesResult {
  const { rule, funnel, reader, evalTo } = look;
  if (rule.metric.kind !== 'step_volume') throw new Error('not a volume rule');
  const step = stepIndex(funnel, rule.metric.step);
  const b = funnel.bucketMs;
  const n = SCAN_BUCKETS;
  const first = evalTo - n * b;
  const observed = new Float64Array(n);
  const expected = new Float64Array(n);
  const ex: Extractor = { trials: (v) => v.volume[step] ?? 0, successes: () => 0, cohort: false };
  for (let i = 0; i < n; i++) observed[i] = reader.fine(first + i * b, seg)?.volume[step] ?? 0;
  let label: SeriesResult['baseline'] = { kind: 'trailing' };
  const gapEnd = Math.min(look.frozenBefore?.get(segmentKey(seg)) ?? Infinity, evalTo - HOUR);
  const trailingMean = (spanMs: number): number => {
    let sum = 0,
      k = 0;
    for (let t = Math.floor(gapEnd / b) * b - spanMs; t < Math.floor(gapEnd / b) * b; t += b) {
      sum += reader.fine(t, seg)?.volume[step] ?? 0;
      k++;
    }
    return k > 0 ? sum / k : NaN;
  };
  let relVar = 0;
  if (rule.baseline.kind === 'seasonal') {
    const weeks = rule.baseline.weeks;
    const blockNow = Math.floor((evalTo - b) / reader.rollupMs) * reader.rollupMs;
    const have = slotEstimate(look, seg, ex, blockNow).volumes.filter((x) => x !== null).length;
    if (have >= weeks) {
      let lastBlock = NaN,
        mu = NaN;
      for (let i = 0; i < n; i++) {
        const block = Math.floor((first + i * b) / reader.rollupMs) * reader.rollupMs;
        if (block !== lastBlock) {
          mu = trimmedMean(slotEstimate(look, seg, ex, block).volumes);
          lastBlock = block;
        }
        expected[i] = mu;
      }
      label = { kind: 'seasonal', weeksUsed: have };
      relVar = 0.05 ** 2 / Math.max(1, have - 1);
    } else {
      expected.fill(trailingMean(FALLBACK_TRAILING_MS));
      label = {
        kind: 'trailing',
        weeksAvailable: have,
        fallback:
          `seasonal baseline needs ${weeks} week(s) of history, ${have} available: ` +
          `using a ${FALLBACK_TRAILING_MS / HOUR}h trailing baseline with wider uncertainty`,
      };
      relVar = 0.1 ** 2;
    }
  } else {
    expected.fill(trailingMean(rule.baseline.windowMs));
  }
  const cap = scanCap(look, segmentKey(seg));
  const detection = detectVolumeChange({
    observed,
    expected,
    direction: rule.direction,
    change: rule.minChange,
    // Traffic wobbles far beyond Poisson; 10 % relative per bucket is a conservative default until estimated.
    noise: { tau2: 0.1 ** 2, tau2Slow: 0.05 ** 2 },
    baselineRelVariance: relVar,
    falseAlarmsPerWeek: budget,
    stepMinutes: b / MINUTE,
    minVolume: rule.minVolume,
    maxWindowSteps: cap,
  });
  if (cap !== undefined) afterResolve(detection);
  if (!(expected[n - 1]! > 0)) {
    detection.state = 'insufficient';
    detection.reason = 'no baseline volume yet';
  }
  return {
    rule: rule.name,
    segment: seg,
    detection,
    baseline: label,
    noise: { tau2: 0.01, tau2Slow: 0.0025 },
    onset: null,
    unlearnedYoung: 0,
    recent: recentChange(observed, expected, rule.direction),
    scan: { budget, baselineRelVariance: relVar },
  };
}
