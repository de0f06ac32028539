/**
 * The extra-binomial noise (τ², fast and slow) of one series, estimated against the expectation its detector uses.
 */
import { seasonalBaseline } from './baseline.js';
import { estimateNoiseProfile, riskAdjustedResidual, type Residual } from './noise.js';
import type { NoiseModel } from './scan-detector.js';
import { HOUR, matureAgeBuckets, type Extractor, type MixAdjust, type RuleLook } from './rule-look.js';
import { LEVEL_GAP_MS, levelInputs, slotEstimate } from './series-baseline.js';
import { segmentKey, type SegmentRef } from './series-reader.js';

const NOISE_REFRESH_MS = HOUR;
const NOISE_SPAN_MS = 12 * HOUR;
const MIN_RESIDUALS = 120;
/**
 * The noise assumed until two hours of residuals can be fitted (a young install), relative to the rate: wider than
 * the wobble real funnels show (1–1.5 pp fast, ~1 pp slow at a 60–75 % rate), so the first hours never page on it.
 * A binomial-only model there paged 70–80 minutes after the first data on 4 of 7 held-out streams.
 */
const YOUNG_FAST_REL = 0.03;
const YOUNG_SLOW_REL = 0.02;
const YOUNG_SLOW_MINUTES = 30;

/** The prior noise of a young series converting at `rate` (YOUNG_*). */
export function youngNoise(rate: number): NoiseModel {
  if (!(rate > 0 && rate < 1)) return { tau2: 0, tau2Slow: 0 };
  return {
    tau2: (YOUNG_FAST_REL * rate) ** 2,
    tau2Slow: (YOUNG_SLOW_REL * rate) ** 2,
    slowMinutes: YOUNG_SLOW_MINUTES,
  };
}

/**
 * τ² (fast and slow) from the last 12 hours of mature buckets, as residuals against the rule's own baseline
 * (seasonal: each block's slot rate × the level factor; trailing: the two hours before each hour), so the noise the
 * detector allows for is the noise around the expectation it actually uses. With the mix-shift adjustment that
 * expectation is Σ starts_v·p_v over the first segment dimension, and so is the residual's (riskAdjustedResidual):
 * measured against the funnel-wide slot rate, a campaign surge's low-converting traffic was fitted as hours of
 * slow and persistent noise (3× the wobble's variance for the 12 hours after each surge, measured on bench:detect),
 * which made the next half day's real drops look like noise. Refreshed hourly.
 */
export function noiseFor(
  look: RuleLook,
  seg: SegmentRef | null,
  ex: Extractor,
  key: string,
  mix: MixAdjust | null,
  scratch: Map<string, NoiseRows>,
  rate: number,
): NoiseModel {
  const hit = look.memory.noise.get(key);
  if (hit && look.evalTo - hit.at < NOISE_REFRESH_MS) return hit.model;
  const own = noiseRows(look, seg, ex, scratch);
  let rows = own;
  if (mix) {
    // The funnel-wide expectation is risk-adjusted by segment: measure the noise around that expectation.
    const parts = mix.segs.map((sg) => noiseRows(look, sg, ex, scratch));
    rows = own.map((r, i) =>
      r
        ? riskAdjustedResidual(
            r,
            parts.map((p) => p[i] ?? null),
          )
        : null,
    );
  }
  const residuals = rows.filter((r): r is Residual => r !== null && r.expectedRate > 0 && r.expectedRate < 1);
  if (residuals.length < MIN_RESIDUALS) return youngNoise(rate); // not cached: the next look may have enough
  const model = estimateNoiseProfile(residuals);
  look.memory.noise.set(key, { at: look.evalTo, model });
  return model;
}

/**
 * One row per bucket of the noise span (the last NOISE_SPAN_MS of mature buckets, ending on an hour): the counts
 * and the baseline rate the series would have used (NaN if none), null where the bucket has no trials. Kept in
 * `scratch` for the tick, so the funnel-wide fit reuses the rows its segment values just read.
 */
function noiseRows(look: RuleLook, seg: SegmentRef | null, ex: Extractor, scratch: Map<string, NoiseRows>): NoiseRows {
  const { funnel, reader, evalTo } = look;
  const b = funnel.bucketMs;
  const end = Math.floor((evalTo - b * matureAgeBuckets(funnel)) / HOUR) * HOUR;
  const ck = `${segmentKey(seg)}@${end}`;
  const cached = scratch.get(ck);
  if (cached) return cached;
  const rows: NoiseRows = [];
  const seasonal = look.rule.baseline.kind === 'seasonal';
  let level = 1;
  if (seasonal) {
    const li = levelInputs(look, seg, ex, evalTo - LEVEL_GAP_MS);
    level = (li.observed + 200) / (li.expected + 200);
  }
  const hourly: { s: number; c: number }[] = [];
  const first = end - NOISE_SPAN_MS - 2 * HOUR;
  for (let h = first; h < end; h += HOUR) {
    let s = 0,
      c = 0;
    for (let t = h; t < h + HOUR; t += b) {
      const v = reader.fine(t, seg);
      if (v) {
        s += ex.trials(v);
        c += ex.successes(v);
      }
    }
    hourly.push({ s, c });
  }
  let seasonalOk = seasonal;
  for (let k = 2; k < hourly.length; k++) {
    const h = first + k * HOUR;
    let p = NaN,
      pVar = 0;
    const local = hourly[k - 1]!.s + hourly[k - 2]!.s;
    const localRate = local > 0 ? (hourly[k - 1]!.c + hourly[k - 2]!.c) / local : NaN;
    for (let t = h; t < h + HOUR; t += b) {
      if (seasonalOk && (t - h) % look.reader.rollupMs === 0) {
        const slot = slotEstimate(look, seg, ex, Math.floor(t / look.reader.rollupMs) * look.reader.rollupMs);
        const est = seasonalBaseline({ weeks: slot.weeks, weeksWanted: slot.weeks.length });
        p = est.rate * level;
        pVar = est.variance * level * level;
        if (!(p > 0)) seasonalOk = false; // too little history for this series: fall back to the local rate
      }
      const rate = seasonalOk ? p : localRate;
      const v = reader.fine(t, seg);
      // The baseline's own variance goes with each residual, so the fit does not count baseline error as noise
      // (the detector adds it separately).
      const baselineVariance = seasonalOk ? pVar : (localRate * (1 - localRate)) / local;
      rows.push(
        v && ex.trials(v) > 0
          ? { starts: ex.trials(v), conversions: ex.successes(v), expectedRate: rate, baselineVariance }
          : null,
      );
    }
  }
  scratch.set(ck, rows);
  return rows;
}

export type NoiseRows = (Residual | null)[];
