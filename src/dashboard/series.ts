/**
 * One rule's series for the dashboard's chart: observed and expected per time bin, the 95% band of a bin's observed
 * rate around the expectation at its volume, and the standardized residual of each bin. The expectation is the
 * detector's own (detect/series-baseline.ts `baselineRates`), computed look by look over the span exactly as the
 * evaluator and the backtest compute it, so the chart shows what the rule compared against, not a look-alike.
 *
 * Long spans are downsampled here, on the server: bins of whole buckets (1, 2, 5, 10, 15, 30 or 60 of them), so a
 * 7-day chart of 1-minute data is ~700 points, not 10,080. A bin sums trials, successes and expected successes, so
 * its rates are the pooled rates of its buckets.
 */
import type { FunnelDef } from '../funnels/funnel.js';
import type { AlertRuleDef } from '../rules/rule.js';
import type { BucketCounts, WindowStore } from '../windows/window-store.js';
import { baselineRates } from '../detect/series-baseline.js';
import { extractor, isMature, matureAgeBuckets, RuleMemory, SCAN_BUCKETS, HOUR, WEEK } from '../detect/rule-look.js';
import { MapSeriesReader, sliceReader, type SegmentRef, type SeriesReader } from '../detect/series-reader.js';

/** Most bins a chart gets. */
export const MAX_POINTS = 720;
const BIN_CHOICES = [1, 2, 5, 10, 15, 30, 60];
const READ_CHUNK = 1440;
const Z95 = 1.959964;

export interface SeriesPoints {
  /** Bin start, epoch ms. */
  t: number[];
  trials: number[];
  /** Observed rate (conversion) or count (step volume); null where the bin holds no trials. */
  observed: (number | null)[];
  /** Expected rate; null where the rule has no expectation for the bin (too little history, volume metrics). */
  expected: (number | null)[];
  lower: (number | null)[];
  upper: (number | null)[];
  /** (successes − expected successes) / binomial sd: how far off the bin is, in standard deviations. */
  z: (number | null)[];
  /** False where a cohort bin is younger than its conversion window (its rate will still rise). */
  mature: boolean[];
}

export interface SeriesView extends SeriesPoints {
  binMs: number;
  from: number;
  to: number;
  /** What the observed values are: a conversion rate or a count per bin. */
  unit: 'rate' | 'count' | 'none';
}

/** The bin width (ms) for a span of `n` buckets of `bucketMs`. */
export function binBuckets(n: number, max = MAX_POINTS): number {
  return BIN_CHOICES.find((k) => n / k <= max) ?? Math.ceil(n / max);
}

/**
 * The chart points of one series of `rule` over [from, to) (bucket aligned; `to` is the end of the newest complete
 * bucket). `reader` must hold the fine buckets from the baseline's lead-in on, and the rollups a seasonal rule reads.
 */
export function seriesPoints(
  rule: AlertRuleDef,
  funnel: FunnelDef,
  reader: SeriesReader,
  seg: SegmentRef | null,
  from: number,
  to: number,
): SeriesView {
  const b = funnel.bucketMs;
  const n = Math.max(0, Math.round((to - from) / b));
  const k = binBuckets(n);
  const binMs = k * b;
  const ex = extractor(rule, funnel);
  const view = rule.where ? sliceReader(reader, rule.where) : reader;
  const out: SeriesView = {
    binMs,
    from,
    to,
    unit: ex ? 'rate' : rule.metric.kind === 'step_volume' ? 'count' : 'none',
    t: [],
    trials: [],
    observed: [],
    expected: [],
    lower: [],
    upper: [],
    z: [],
    mature: [],
  };
  // Expected rate per bucket: one look per SCAN_BUCKETS buckets, newest first, as the evaluator would have had it.
  const expectedAt = new Map<number, number>();
  if (ex) {
    const memory = new RuleMemory();
    for (let evalTo = to; evalTo > from; evalTo -= SCAN_BUCKETS * b) {
      const { rates } = baselineRates({ rule, funnel, reader: view, evalTo, memory }, seg, ex, undefined);
      const first = evalTo - SCAN_BUCKETS * b;
      for (let i = 0; i < rates.length; i++) if (Number.isFinite(rates[i])) expectedAt.set(first + i * b, rates[i]!);
    }
  }
  const m = rule.metric;
  const volStep = m.kind === 'step_volume' ? funnel.steps.findIndex((s) => s.name === m.step) : -1;
  for (let start = from; start < to; start += binMs) {
    let trials = 0,
      succ = 0,
      expSucc = 0,
      expTrials = 0,
      succWithExp = 0,
      variance = 0,
      mature = true;
    for (let t = start; t < Math.min(start + binMs, to); t += b) {
      const v = view.fine(t, seg);
      if (!v) continue;
      if (ex) {
        const nt = ex.trials(v);
        const ns = ex.successes(v);
        trials += nt;
        succ += ns;
        const p = expectedAt.get(t);
        if (p !== undefined && nt > 0) {
          succWithExp += ns;
          expSucc += nt * p;
          expTrials += nt;
          variance += nt * p * (1 - p);
        }
        if (!isMature(funnel, t, to, ex.cohort) && nt > 0) mature = false;
      } else if (volStep >= 0) {
        trials += v.volume[volStep] ?? 0;
      }
    }
    out.t.push(start);
    out.trials.push(trials);
    out.mature.push(mature);
    if (!ex) {
      out.observed.push(volStep >= 0 ? trials : null);
      noExpectation(out);
      continue;
    }
    out.observed.push(trials > 0 ? succ / trials : null);
    if (expTrials === 0) {
      noExpectation(out);
      continue;
    }
    const p = expSucc / expTrials;
    const half = (Z95 * Math.sqrt(variance)) / expTrials;
    out.expected.push(p);
    out.lower.push(Math.max(0, p - half));
    out.upper.push(Math.min(1, p + half));
    out.z.push(variance > 0 ? (succWithExp - expSucc) / Math.sqrt(variance) : null);
  }
  return out;
}

function noExpectation(out: SeriesPoints): void {
  out.expected.push(null);
  out.lower.push(null);
  out.upper.push(null);
  out.z.push(null);
}

/** What `seriesPoints` needs read for [from, to): fine buckets from the baseline's lead-in, rollups if seasonal. */
export async function loadSeriesReader(
  store: WindowStore,
  rule: AlertRuleDef,
  funnel: FunnelDef,
  from: number,
  to: number,
  seg: SegmentRef | null,
): Promise<SeriesReader> {
  const b = funnel.bucketMs;
  const r = funnel.retention.rollupBucketMs;
  const gap = Math.max(HOUR, b * matureAgeBuckets(funnel));
  const lead = (rule.baseline.kind === 'trailing' ? rule.baseline.windowMs : 4 * HOUR) + gap + SCAN_BUCKETS * b;
  // Only the dimension the chart reads: a funnel-wide chart of a rule segmented by 40 values reads no segment counts.
  const dimensions = [...new Set([...(seg ? [seg.dimension] : []), ...(rule.where ? [rule.where.dimension] : [])])];
  // A segment's chart reads that one value of its dimension, not all of them (unless the rule's `where` needs it).
  const values = seg && rule.where?.dimension !== seg.dimension ? { [seg.dimension]: [seg.value] } : undefined;
  const fine = new Map<number, BucketCounts>();
  const rollups = new Map<number, BucketCounts>();
  const read = async (resolution: 'fine' | 'rollup', lo: number, hi: number, into: Map<number, BucketCounts>) => {
    const width = resolution === 'fine' ? b : r;
    const reads: Promise<void>[] = [];
    for (let s = lo; s < hi; s += READ_CHUNK * width) {
      const e = Math.min(hi, s + READ_CHUNK * width);
      reads.push(
        store
          .bucketCounts({ funnel, from: s, to: e, resolution, dimensions, ...(values ? { values } : {}) })
          .then((res) => {
            for (const bc of res.buckets) into.set(bc.start, bc);
          }),
      );
    }
    await Promise.all(reads);
  };
  const jobs = [read('fine', Math.floor((from - lead) / b) * b, to, fine)];
  if (rule.baseline.kind === 'seasonal') {
    const lo = Math.floor((from - SCAN_BUCKETS * b - rule.baseline.weeks * WEEK - 15 * HOUR) / r) * r;
    jobs.push(read('rollup', lo, to - WEEK + 2 * HOUR, rollups));
  }
  await Promise.all(jobs);
  return new MapSeriesReader(b, r, fine, rollups);
}
