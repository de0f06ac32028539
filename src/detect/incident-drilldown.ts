import { drilldown, type DrilldownResult, type SegmentInput } from './drilldown.js';
import { extractor, matureAgeBuckets, MINUTE, SCAN_BUCKETS, type RuleLook } from './rule-look.js';
import { baselineRates } from './series-baseline.js';
import type { SegmentRef } from './series-reader.js';

/**
 * The drill-down of a conversion alert (issue: deploys and drill-down): for each dimension, each value's completions
 * over the incident's span [from, evalTo) against its *own* baseline rate times its current starts, its share of
 * the deficit, and whether its rate moved or only its share of traffic (drilldown.ts). Computed on the
 * funnel-wide marginals the window store keeps per dimension (it keeps no cross-dimension counts), so a drop in
 * android shows as "platform: android carries 91% of the deficit" whatever series fired. The span's traffic is
 * compared with the same length just before it for the mix analysis. One result per dimension with traffic in the
 * span; none for volume and duration rules (the alert's summary of them: engine/drilldown-summary.ts).
 */
export function drilldownFor(look: RuleLook, from: number, dimensions: readonly string[]): DrilldownResult[] {
  const { rule, funnel, reader, evalTo } = look;
  const ex = extractor(rule, funnel);
  if (!ex) return [];
  const b = funnel.bucketMs;
  const n = SCAN_BUCKETS;
  const first = evalTo - n * b;
  const start = Math.max(first, Math.floor(from / b) * b);
  if (start >= evalTo) return [];
  const span = Math.max(evalTo - start, 30 * MINUTE);
  const mature = matureAgeBuckets(funnel);
  const results: DrilldownResult[] = [];
  for (const dimension of dimensions) {
    const segments: SegmentInput[] = [];
    for (const value of reader.values(dimension).slice(0, look.maxValuesPerDimension ?? 40)) {
      const seg: SegmentRef = { dimension, value };
      // The value's own baseline, frozen before the span like the alert's.
      const rates = baselineRates(look, seg, ex, start).rates;
      let s = 0,
        c = 0,
        sg = 0,
        e = 0;
      for (let t = start; t < evalTo; t += b) {
        const v = reader.fine(t, seg);
        if (!v) continue;
        const i = (t - first) / b;
        const age = n - 1 - i;
        let g = 1;
        if (ex.cohort && age < mature) {
          const learned = look.completeness?.[age];
          if (learned === undefined || !(learned > 0)) continue; // as in the detector: young and unlearned is left out
          g = learned;
        }
        const trials = ex.trials(v);
        const r = rates[i] ?? NaN;
        if (!(r > 0)) continue;
        s += trials;
        c += ex.successes(v);
        sg += trials * g;
        e += trials * r * g;
      }
      if (!(s > 0) || !(sg > 0)) continue;
      let baseStarts = 0;
      for (let t = start - span; t < start; t += b) {
        const v = reader.fine(t, seg);
        if (v) baseStarts += ex.trials(v);
      }
      segments.push({
        value,
        current: { starts: s, conversions: c },
        baselineRate: e / sg,
        completeness: sg / s,
        baselineStarts: baseStarts,
      });
    }
    if (segments.length > 0) results.push(drilldown({ dimension, segments, drop: rule.minChange }));
  }
  return results;
}
