/**
 * The expected rate of one series per scan bucket: trailing (a ratio of sums over mature buckets) or seasonal
 * (the same slot in past weeks from rollups, trimmed and pooled in baseline.ts, times a level factor), with the
 * trailing fallback of a seasonal rule that has too little history. Slot and level estimates are cached in the
 * rule's memory: past weeks are final.
 */
import { seasonalBaseline, trailingBaseline, type BaselineEstimate } from './baseline.js';
import type { Counts } from './counts.js';
import {
  HOUR,
  isMature,
  matureAgeBuckets,
  SCAN_BUCKETS,
  WEEK,
  type Extractor,
  type RuleLook,
  type SeriesResult,
  type SlotEstimate,
} from './rule-look.js';
import { segmentKey, type SegmentRef } from './series-reader.js';

const MINUTE = 60_000;
/** Seasonal slot: the rollup bucket of the same time of week, ± this much. */
const SLOT_HALF_WIDTH_MS = 30 * MINUTE;
/** The level factor is measured over these hours, ending where the span under test begins. */
const LEVEL_SPAN_MS = 6 * HOUR;
export const LEVEL_GAP_MS = 4 * HOUR;
/** The trailing fallback of a seasonal rule (fresh installs): this long, with a drift allowance. */
export const FALLBACK_TRAILING_MS = 4 * HOUR;
const FALLBACK_DRIFT_REL_VAR = 0.01 ** 2;

/** Baseline rate per scan bucket (NaN: unknown), the estimate the newest bucket used, and the baseline label. */
export interface Rates {
  rates: Float64Array;
  newest: BaselineEstimate;
  label: SeriesResult['baseline'];
  /** Buckets the baseline's window asks for (trailing), and the bucket length in minutes. */
  wantedBuckets: number;
  bucketMinutes: number;
}

/**
 * Expected rate per scan bucket. Trailing: ratio of sums over the rule's span of mature buckets, ending an hour
 * (or the maturity delay, if longer) before `evalTo`, or at the frozen onset. Seasonal: per 15-minute block, the
 * slot counts of each past week (trimmed and pooled in detect/baseline.ts) times the level factor; with fewer weeks
 * than asked, the trailing fallback.
 */
export function baselineRates(
  look: RuleLook,
  seg: SegmentRef | null,
  ex: Extractor,
  frozen: number | undefined,
): Rates {
  const { rule, funnel, evalTo } = look;
  const n = SCAN_BUCKETS;
  const b = funnel.bucketMs;
  const first = evalTo - n * b;
  const gap = Math.max(HOUR, b * matureAgeBuckets(funnel));
  const end = Math.min(frozen ?? Infinity, evalTo - gap);
  const rates = new Float64Array(n);
  const bucketMinutes = b / 60_000;
  if (rule.baseline.kind === 'trailing') {
    const est = trailing(look, seg, ex, end, rule.baseline.windowMs, 0);
    rates.fill(est.rate);
    return {
      rates,
      newest: est,
      label: { kind: 'trailing' },
      wantedBuckets: rule.baseline.windowMs / b,
      bucketMinutes,
    };
  }
  const weeks = rule.baseline.weeks;
  const slot = slotEstimate(look, seg, ex, Math.floor((evalTo - b) / look.reader.rollupMs) * look.reader.rollupMs);
  const have = slot.weeks.filter((w) => w !== null && w.starts > 0).length;
  if (have < weeks) {
    const est = trailing(look, seg, ex, end, FALLBACK_TRAILING_MS, FALLBACK_DRIFT_REL_VAR);
    rates.fill(est.rate);
    return {
      rates,
      newest: est,
      wantedBuckets: FALLBACK_TRAILING_MS / b,
      bucketMinutes,
      label: {
        kind: 'trailing',
        weeksAvailable: have,
        fallback:
          `seasonal baseline needs ${weeks} week(s) of history, ${have} available: ` +
          `using a ${FALLBACK_TRAILING_MS / HOUR}h trailing baseline with wider uncertainty`,
      },
    };
  }
  const levelEnd = Math.min(frozen ?? Infinity, evalTo - LEVEL_GAP_MS);
  const level = levelInputs(look, seg, ex, levelEnd);
  let newest: BaselineEstimate | null = null;
  let lastBlock = NaN;
  let est: BaselineEstimate | null = null;
  for (let i = 0; i < n; i++) {
    const start = first + i * b;
    const block = Math.floor(start / look.reader.rollupMs) * look.reader.rollupMs;
    if (block !== lastBlock) {
      est = seasonalBaseline({ weeks: slotEstimate(look, seg, ex, block).weeks, weeksWanted: weeks, level });
      lastBlock = block;
    }
    rates[i] = est!.rate;
    newest = est;
  }
  return {
    rates,
    newest: newest!,
    label: { kind: 'seasonal', weeksUsed: newest!.weeksUsed, level: newest!.level },
    wantedBuckets: 0,
    bucketMinutes,
  };
}

function trailing(
  look: RuleLook,
  seg: SegmentRef | null,
  ex: Extractor,
  end: number,
  spanMs: number,
  drift: number,
): BaselineEstimate {
  const b = look.funnel.bucketMs;
  const history: Counts[] = [];
  const alignedEnd = Math.floor(end / b) * b;
  for (let t = alignedEnd - Math.floor(spanMs / b) * b; t < alignedEnd; t += b) {
    if (!isMature(look.funnel, t, look.evalTo, ex.cohort)) continue;
    const v = look.reader.fine(t, seg);
    history.push(v ? { starts: ex.trials(v), conversions: ex.successes(v) } : { starts: 0, conversions: 0 });
  }
  return trailingBaseline({ history, windowSteps: history.length, driftRelVariance: drift });
}

/** The same-slot counts of each past week for the 15-minute block starting at `block` (cached: history is final). */
export function slotEstimate(look: RuleLook, seg: SegmentRef | null, ex: Extractor, block: number): SlotEstimate {
  const ck = `${segmentKey(seg)}@${block}`;
  const hit = look.memory.slots.get(ck);
  if (hit) return hit;
  const r = look.reader.rollupMs;
  const weeksWanted = look.rule.baseline.kind === 'seasonal' ? look.rule.baseline.weeks : 0;
  const weeks: (Counts | null)[] = [];
  const volumes: (number | null)[] = [];
  for (let w = 1; w <= weeksWanted; w++) {
    let s = 0,
      c = 0,
      seen = 0;
    const from = block - w * WEEK - SLOT_HALF_WIDTH_MS;
    const to = block - w * WEEK + r + SLOT_HALF_WIDTH_MS;
    for (let t = Math.ceil(from / r) * r; t < to; t += r) {
      const v = look.reader.rollup(t, seg);
      if (!v) continue;
      seen++;
      s += ex.trials(v);
      c += ex.successes(v);
    }
    // The store returns every bucket of a range, zero-filled where nothing was recorded: a week with no trials is
    // a week without history (a fresh install), not a week of zero traffic. For a volume rule the trials are the
    // rule's own step (its extractor), so `volumes` is that step's volume per fine bucket.
    weeks.push(seen > 0 && s > 0 ? { starts: s, conversions: c } : null);
    volumes.push(seen > 0 && s > 0 ? s / ((seen * r) / look.funnel.bucketMs) : null);
  }
  const est: SlotEstimate = { block, weeks, volumes };
  look.memory.slots.set(ck, est);
  return est;
}

/** Observed vs seasonal-expected conversions over the level span (recomputed once per 15-minute block). */
export function levelInputs(
  look: RuleLook,
  seg: SegmentRef | null,
  ex: Extractor,
  end: number,
): { observed: number; expected: number } {
  const { funnel, reader } = look;
  const b = funnel.bucketMs;
  const alignedEnd = Math.floor(end / reader.rollupMs) * reader.rollupMs;
  const key = segmentKey(seg);
  const hit = look.memory.levels.get(key);
  if (hit && hit.key === alignedEnd) return hit;
  let observed = 0,
    expected = 0;
  let lastBlock = NaN;
  let rate = NaN;
  for (let t = alignedEnd - LEVEL_SPAN_MS; t < alignedEnd; t += b) {
    if (!isMature(funnel, t, look.evalTo, ex.cohort)) continue;
    const v = reader.fine(t, seg);
    if (!v) continue;
    const block = Math.floor(t / reader.rollupMs) * reader.rollupMs;
    if (block !== lastBlock) {
      const slot = slotEstimate(look, seg, ex, block);
      let s = 0,
        c = 0;
      for (const w of slot.weeks)
        if (w) {
          s += w.starts;
          c += w.conversions;
        }
      rate = s > 0 ? c / s : NaN;
      lastBlock = block;
    }
    if (!(rate > 0)) continue;
    observed += ex.successes(v);
    expected += ex.trials(v) * rate;
  }
  const out = { key: alignedEnd, observed, expected };
  look.memory.levels.set(key, out);
  return out;
}

export function trimmedMean(xs: readonly (number | null)[]): number {
  const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  // Robust to one bad week: with three or more, drop the one farthest from the median.
  if (v.length >= 3) {
    const med = v[Math.floor(v.length / 2)]!;
    const far = Math.abs(v[0]! - med) > Math.abs(v[v.length - 1]! - med) ? 0 : v.length - 1;
    v.splice(far, 1);
  }
  return v.reduce((a, x) => a + x, 0) / v.length;
}
