/**
 * Redis key names and hash field codes of the window store, and the plan of which buckets a query window reads.
 * Pure: the Lua script builds the same names (it derives them from the meta key it is given), so any change here
 * must be mirrored in lua/applyBatch-1.lua and comes with a new command version.
 *
 * Layout, for prefix p, funnel F, partition P (tag T = `{F:P}`, one cluster slot per funnel and partition):
 *   p:T:m                 meta hash: o offset, w watermark, lo lowest live entity shard, cumulative counters
 *   p:T:e:<k>             entity shard k = floor(entryTs / conversionWindowMs): field entity → compact state
 *   p:T:f:<sec>:<g>       fine bucket starting at <sec> epoch seconds, group g
 *   p:T:r:<sec>:<g>       rollup bucket, same groups
 *   p:{F}:parts           set of partition ids seen (funnel-level, its own slot)
 *   p:{F}:dims            dimension value registry: `<d>:<value>` → code, `<d>` → number of codes given
 * Groups: `t` totals, `d<i>` dimension i, `h<s>` duration histogram of step s. One hash per group keeps each
 * within Redis' default listpack limit (128 fields), which is what keeps a bucket a few KB instead of tens.
 *
 * Field codes are integers because listpack stores integer-looking strings as 2–4 byte integers.
 *   t:  kind*100 + step with kind 0 volume, 1 cohort reached, 2 duplicate, 3 out of order, 4 no entry, 5 expired
 *   d:  volume step*128 + code, cohort reached 2048 + step*128 + code (all below 4096: listpack's 13-bit integers,
 *       3 bytes a field; codes therefore stop at 127, which is far above any useful cap)
 *   h:  duration bucket index (histogram.ts)
 */
import { FwError } from '../errors.js';
import type { FunnelDef } from '../funnels/funnel.js';

/** Dimension value codes 0..maxValues-1 are registered values; these two are reserved. */
export const OTHER_CODE = 126;
export const MISSING_CODE = 127;
export const OTHER_VALUE = 'other';
/** What a query reports for events that lack the dimension's attribute. */
export const MISSING_VALUE = '(none)';

export const MAX_STEPS = 16;
export const MAX_DIMENSION_VALUES = 125;

export const TotalKind = { Volume: 0, Cohort: 1, Duplicate: 2, OutOfOrder: 3, NoEntry: 4, Expired: 5 } as const;
export type TotalKind = (typeof TotalKind)[keyof typeof TotalKind];

export function totalField(kind: TotalKind, step: number): number {
  return kind * 100 + step;
}

export function dimVolumeField(step: number, code: number): number {
  return step * 128 + code;
}

export function dimCohortField(step: number, code: number): number {
  return 2048 + step * 128 + code;
}

/** Decodes a `d<i>` field into what it counts. */
export function decodeDimField(field: number): { kind: 'volume' | 'cohort'; step: number; code: number } {
  const cohort = field >= 2048;
  const rest = cohort ? field - 2048 : field;
  return { kind: cohort ? 'cohort' : 'volume', step: Math.floor(rest / 128), code: rest % 128 };
}

/** Funnel names and partition ids end up inside a hash tag, so braces would move the tag and break the slot. */
function checkTagPart(what: string, v: string): void {
  if (v.length === 0 || /[{}]/.test(v)) {
    throw new FwError('WINDOW_BAD_NAME', `${what} "${v}" must be non-empty and contain no '{' or '}' (it is part of a Redis hash tag)`, false);
  }
}

export class KeyLayout {
  constructor(readonly prefix: string) {
    if (prefix.length === 0 || /[{}]/.test(prefix)) {
      throw new FwError('WINDOW_BAD_PREFIX', `key prefix "${prefix}" must be non-empty and contain no braces`, false);
    }
  }

  /** Everything of one (funnel, partition) starts with this; the Lua script appends the rest. */
  partitionBase(funnel: string, partition: string): string {
    checkTagPart('funnel name', funnel);
    checkTagPart('partition id', partition);
    return `${this.prefix}:{${funnel}:${partition}}:`;
  }

  meta(funnel: string, partition: string): string {
    return `${this.partitionBase(funnel, partition)}m`;
  }

  bucket(funnel: string, partition: string, res: 'f' | 'r', startMs: number, group: string): string {
    return `${this.partitionBase(funnel, partition)}${res}:${Math.floor(startMs / 1000)}:${group}`;
  }

  entityShard(funnel: string, partition: string, shard: number): string {
    return `${this.partitionBase(funnel, partition)}e:${shard}`;
  }

  partitions(funnel: string): string {
    checkTagPart('funnel name', funnel);
    return `${this.prefix}:{${funnel}}:parts`;
  }

  dims(funnel: string): string {
    checkTagPart('funnel name', funnel);
    return `${this.prefix}:{${funnel}}:dims`;
  }
}

/** Refuses funnel shapes the key layout and field codes cannot represent, before anything is written. */
export function checkFunnelShape(funnel: FunnelDef): void {
  const bad = (msg: string) => new FwError('WINDOW_UNSUPPORTED_FUNNEL', `funnel "${funnel.name}": ${msg}`, false);
  if (funnel.steps.length < 1 || funnel.steps.length > MAX_STEPS) throw bad(`needs 1..${MAX_STEPS} steps, has ${funnel.steps.length}`);
  for (const d of funnel.dimensions) {
    if (!(d.maxValues >= 1 && d.maxValues <= MAX_DIMENSION_VALUES)) throw bad(`dimension ${d.name}: maxValues must be 1..${MAX_DIMENSION_VALUES}`);
  }
  const { bucketMs, conversionWindowMs, allowedLatenessMs, retention } = funnel;
  if (!(bucketMs >= 1000 && bucketMs % 1000 === 0)) throw bad('bucketMs must be a whole number of seconds');
  if (!(retention.rollupBucketMs >= bucketMs && retention.rollupBucketMs % bucketMs === 0)) {
    throw bad('retention.rollupBucketMs must be a multiple of bucketMs');
  }
  if (!(conversionWindowMs > 0)) throw bad('conversionWindowMs must be positive');
  if (!(allowedLatenessMs >= 0)) throw bad('allowedLatenessMs must be >= 0');
  if (!(retention.fineMs > 0 && retention.rollupMs > 0)) throw bad('retention periods must be positive');
}

/** One contiguous run of buckets of one resolution that a query reads. */
export interface BucketRange {
  res: 'f' | 'r';
  widthMs: number;
  /** Bucket starts, ascending. */
  starts: number[];
}

export interface WindowPlan {
  /** The window actually covered: [from, to) rounded outward to bucket boundaries. */
  from: number;
  to: number;
  ranges: BucketRange[];
}

function range(res: 'f' | 'r', widthMs: number, from: number, to: number): BucketRange {
  const starts: number[] = [];
  for (let s = from; s < to; s += widthMs) starts.push(s);
  return { res, widthMs, starts };
}

/**
 * Which buckets answer a window [from, to). Whole rollup buckets inside the window are read from rollups (few keys
 * for a five-week baseline); the ragged edges from fine buckets, unless those are older than `fineFrom` (already
 * expired), in which case the edge is widened to its enclosing rollup bucket and the returned `from`/`to` say so.
 * Both resolutions are written by the same Lua call, so either answers a bucket identically.
 */
export function planWindow(
  funnel: Pick<FunnelDef, 'bucketMs' | 'retention'>,
  from: number,
  to: number,
  fineFrom: number,
): WindowPlan {
  const f = funnel.bucketMs;
  const r = funnel.retention.rollupBucketMs;
  const lo = Math.floor(from / f) * f;
  const hi = Math.ceil(to / f) * f;
  if (hi <= lo) return { from: lo, to: lo, ranges: [] };
  let rLo = Math.ceil(lo / r) * r;
  let rHi = Math.floor(hi / r) * r;
  let coverFrom = lo;
  let coverTo = hi;
  const ranges: BucketRange[] = [];
  if (rHi <= rLo) {
    // No whole rollup bucket inside: fine buckets only, widened to the enclosing rollup bucket(s) if expired.
    if (lo >= fineFrom) return { from: lo, to: hi, ranges: [range('f', f, lo, hi)] };
    coverFrom = Math.floor(lo / r) * r;
    coverTo = Math.ceil(hi / r) * r;
    return { from: coverFrom, to: coverTo, ranges: [range('r', r, coverFrom, coverTo)] };
  }
  if (lo < rLo) {
    if (lo >= fineFrom) ranges.push(range('f', f, lo, rLo));
    else {
      rLo -= r;
      coverFrom = rLo;
    }
  }
  ranges.push(range('r', r, rLo, rHi));
  if (hi > rHi) {
    if (rHi >= fineFrom) ranges.push(range('f', f, rHi, hi));
    else {
      ranges[ranges.length - 1] = range('r', r, rLo, rHi + r);
      coverTo = rHi + r;
    }
  }
  return { from: coverFrom, to: coverTo, ranges };
}

/**
 * Like planWindow, but reads fine buckets wherever they still exist and rollups only for what is older than
 * `fineFrom`. For cohorts, whose maturity is judged per bucket: a 15-minute rollup bucket would keep a cohort
 * "young" up to 14 minutes longer than its fine buckets do.
 */
export function planWindowPreferFine(
  funnel: Pick<FunnelDef, 'bucketMs' | 'retention'>,
  from: number,
  to: number,
  fineFrom: number,
): WindowPlan {
  const f = funnel.bucketMs;
  const r = funnel.retention.rollupBucketMs;
  const lo = Math.floor(from / f) * f;
  const hi = Math.ceil(to / f) * f;
  if (hi <= lo) return { from: lo, to: lo, ranges: [] };
  if (lo >= fineFrom) return { from: lo, to: hi, ranges: [range('f', f, lo, hi)] };
  const rLo = Math.floor(lo / r) * r;
  const split = Math.min(Math.max(Math.ceil(fineFrom / r) * r, rLo), Math.ceil(hi / r) * r);
  const ranges: BucketRange[] = [range('r', r, rLo, split)];
  if (split < hi) ranges.push(range('f', f, split, hi));
  return { from: rLo, to: Math.max(hi, split), ranges };
}

/** Fine buckets only, for per-bucket series (volume per minute). */
export function fineStarts(funnel: Pick<FunnelDef, 'bucketMs'>, from: number, to: number): number[] {
  const f = funnel.bucketMs;
  return range('f', f, Math.floor(from / f) * f, Math.ceil(to / f) * f).starts;
}
