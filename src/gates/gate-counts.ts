/**
 * What a canary gate reads: per minute, the canary's and the baseline's counts of the gate's conversion, from the
 * window store's fine buckets sliced by the gate's dimension (`split_by`), the same buckets the evaluator reads
 * (engine/funnel-data.ts), with the same extractor (detect/rule-look.ts).
 *
 * Young cohorts: a cohort that entered a few minutes ago has not converted yet as much as it will. Its trials are
 * counted as `entered × G(age)` with the completeness curve the evaluator learns (engine/completeness.ts) and
 * persists, through maturity.ts; a young bucket whose G is not learned yet is left out (both arms, so the split
 * stays fair) until it matures, as the detector does: slower, never biased. `entered` stays raw for the split check.
 *
 * `since` by default: the first minute the canary value was seen, found by reading back from the newest data in
 * chunks until a chunk without the canary (an earlier rollout of the same value is another comparison), bounded by
 * the fine history the funnel keeps.
 */
import type { FunnelDef } from '../funnels/funnel.js';
import type { WindowStore } from '../windows/window-store.js';
import { bucketView } from '../detect/series-reader.js';
import { matureAgeBuckets, metricExtractor, type Extractor } from '../detect/rule-look.js';
import type { GateMetricDef } from '../rules/gate.js';
import { effectiveTrials } from './maturity.js';
import type { GateMinute } from './sequential-test.js';

export const MINUTE = 60_000;
/** Fine buckets per window-store read (as engine/funnel-data.ts). */
const READ_CHUNK = 180;
/** No canary traffic for this long ends a run: what came before is an earlier rollout of the same value. */
const RUN_GAP_MS = 30 * MINUTE;

/** One bucket's raw counts for one value. */
interface RawArm {
  trials: number;
  successes: number;
}

interface RawBucket {
  start: number;
  canary: RawArm;
  baseline: RawArm;
}

export interface GateSeriesQuery {
  store: WindowStore;
  funnel: FunnelDef;
  metric: GateMetricDef;
  splitBy: string;
  canary: string;
  baseline: string;
  /** End of the newest complete bucket (bucket aligned): the data the answer covers. */
  evalTo: number;
  /** G by age in buckets for a cohort metric (undefined entries: not learned); ignored for ratios. */
  completeness?: readonly (number | undefined)[];
}

export interface GateSeries {
  /** The comparison's minutes, oldest first, `since` to the last complete minute (or the end of max duration). */
  minutes: GateMinute[];
  since: number;
  /** The last minute's end the answer covers. */
  until: number;
  /** Raw entries of each arm over the minutes (before any maturity correction). */
  canaryEntered: number;
  baselineEntered: number;
  /** Young cohort buckets left out because their completeness is not learned yet. */
  youngLeftOut: number;
}

/** The first minute of the canary's current run, or undefined when it was never seen in the fine history. */
export async function firstSeen(q: GateSeriesQuery): Promise<number | undefined> {
  const ex = extractorOf(q);
  const b = q.funnel.bucketMs;
  const floor = q.evalTo - Math.floor(q.funnel.retention.fineMs / b) * b;
  let first: number | undefined;
  for (let to = q.evalTo; to > floor; to -= READ_CHUNK * b) {
    const from = Math.max(floor, to - READ_CHUNK * b);
    const buckets = await readBuckets(q, ex, from, to);
    const seen = buckets.filter((x) => x.canary.trials > 0);
    if (seen.length === 0) {
      if (first !== undefined) break; // a gap of a whole chunk: the run started after it
      continue;
    }
    first = seen[0]!.start;
    // A gap inside the chunk ends the run as well.
    if (seen[0]!.start - from >= RUN_GAP_MS) break;
  }
  return first === undefined ? undefined : Math.floor(first / MINUTE) * MINUTE;
}

/** The per-minute counts of both arms from `since` to `until` (minute aligned, until ≤ evalTo). */
export async function readGateSeries(q: GateSeriesQuery, since: number, until: number): Promise<GateSeries> {
  const ex = extractorOf(q);
  const b = q.funnel.bucketMs;
  const out: GateSeries = { minutes: [], since, until, canaryEntered: 0, baselineEntered: 0, youngLeftOut: 0 };
  if (until <= since) return out;
  const mature = matureAgeBuckets(q.funnel);
  const byMinute = new Map<number, GateMinute>();
  for (let t = since; t < until; t += MINUTE) {
    const m: GateMinute = {
      start: t,
      canary: { trials: 0, successes: 0 },
      baseline: { trials: 0, successes: 0 },
      canaryEntered: 0,
      baselineEntered: 0,
    };
    byMinute.set(t, m);
    out.minutes.push(m);
  }
  for (let from = since; from < until; from += READ_CHUNK * b) {
    for (const bucket of await readBuckets(q, ex, from, Math.min(until, from + READ_CHUNK * b))) {
      const m = byMinute.get(Math.floor(bucket.start / MINUTE) * MINUTE);
      if (!m) continue;
      m.canaryEntered! += bucket.canary.trials;
      m.baselineEntered! += bucket.baseline.trials;
      out.canaryEntered += bucket.canary.trials;
      out.baselineEntered += bucket.baseline.trials;
      const age = Math.floor((q.evalTo - bucket.start) / b) - 1;
      let curve: readonly number[] | null = null;
      if (ex.cohort && age < mature) {
        const g = q.completeness?.[age];
        if (g === undefined || !(g > 0)) {
          if (bucket.canary.trials + bucket.baseline.trials > 0) out.youngLeftOut++;
          continue;
        }
        curve = q.completeness as readonly number[];
      }
      for (const arm of ['canary', 'baseline'] as const) {
        const raw = bucket[arm];
        m[arm].trials += curve ? effectiveTrials(raw.trials, bucket.start, q.evalTo, curve, b) : raw.trials;
        m[arm].successes += raw.successes;
      }
    }
  }
  return out;
}

function extractorOf(q: GateSeriesQuery): Extractor {
  const ex = metricExtractor(q.metric, q.funnel);
  // The rule loader only lets conversion metrics into a gate.
  if (!ex) throw new Error(`gate metric ${q.metric.kind} has no conversion counts`);
  return ex;
}

async function readBuckets(q: GateSeriesQuery, ex: Extractor, from: number, to: number): Promise<RawBucket[]> {
  const res = await q.store.bucketCounts({
    funnel: q.funnel,
    from,
    to,
    resolution: 'fine',
    dimensions: [q.splitBy],
  });
  return res.buckets.map((bc) => {
    const arm = (value: string): RawArm => {
      const v = bucketView(bc, { dimension: q.splitBy, value });
      return { trials: ex.trials(v), successes: ex.successes(v) };
    };
    return { start: bc.start, canary: arm(q.canary), baseline: arm(q.baseline) };
  });
}
