/**
 * Redis key names and hash field codes of the window store, and the plan of which buckets a query window reads.
 * Pure: the Lua scripts build the same names (they derive them from the key they are given), so any change here
 * must be mirrored in lua/*.lua and changes the scripts, whose command names follow their content (redis/scripts.ts).
 *
 * Two tiers, like an LSM tree (window-store.ts explains the life of a bucket: hot → sealed → compacted):
 *
 * HOT, per (funnel F, partition P), tag T = `{F:P}` (one cluster slot per funnel and partition). applyBatch writes
 * only here, atomically with the offset fence. Fine buckets only, kept `hotKeepMs` (a backstop: compaction deletes
 * them as soon as they are in history, so in steady state only the last ~40 minutes exist per partition).
 *   p:T:m                 meta hash: o offset, w watermark, lo lowest live entity shard, s sealedUpTo (buckets
 *                         starting before it take no more writes), fb first fine bucket ever written, counters
 *   p:T:e:<k>             entity shard k = floor(entryTs / conversionWindowMs): field entity → compact state
 *   p:T:f:<sec>:<g>       hot fine bucket starting at <sec> epoch seconds, group g
 *
 * HISTORY, per funnel, tag `{F}` (one slot per funnel). Written only by compaction (lua/compact-1.lua), once per
 * bucket, so history memory does not depend on the number of partitions.
 *   p:{F}:c               compaction meta hash: s sealing horizon every partition is (being) sealed to,
 *                         c compactedUpTo (buckets starting before it live in history, not in hot keys)
 *   p:{F}:f:<sec>:<g>     history fine bucket (sum over partitions), kept retention.fineMs
 *   p:{F}:r:<sec>:<g>     history rollup bucket, same groups, kept retention.rollupMs
 *   p:{F}:parts           set of partition ids seen
 *   p:{F}:dims            dimension value registry: `<d>:<value>` → code, `<d>` → number of codes given
 * Groups: `t` totals, `d<i>` dimension i, `h<s>` duration histogram of step s (s ≥ 1). One hash per group keeps each
 * within Redis' default listpack limit (128 fields), which is what keeps a bucket a few KB instead of tens.
 *
 * Field codes are integers because listpack stores integer-looking strings as 2–4 byte integers.
 *   t:  kind*100 + step with kind 0 volume, 1 cohort reached, 2 duplicate, 3 out of order, 4 no entry, 5 expired
 *   d:  volume step*128 + code, cohort reached 2048 + step*128 + code (all below 4096: listpack's 13-bit integers,
 *       3 bytes a field; codes therefore stop at 127, which is far above any useful cap)
 *   h:  duration bucket index (histogram.ts)
 */
import { FwError } from '../core/errors.js';
import type { FunnelDef } from '../funnels/funnel.js';

/** Dimension value codes 0..maxValues-1 are registered values; these two are reserved. */
export const OTHER_CODE = 126;
export const MISSING_CODE = 127;
export const OTHER_VALUE = 'other';
/** What a query reports for events that lack the dimension's attribute. */
export const MISSING_VALUE = '(none)';

export const MAX_STEPS = 16;
export const MAX_DIMENSION_VALUES = 125;

const HOUR = 3_600_000;

/**
 * How long hot fine buckets live, counted from the partition watermark (event time) like every bucket TTL. Only a
 * backstop: compaction deletes hot buckets once they are in history. Long enough that a daemon outage or a stalled
 * funnel of up to a day loses nothing (the hot buckets wait for compaction), and at least twice the sealing delay.
 */
export function hotKeepMs(funnel: Pick<FunnelDef, 'conversionWindowMs' | 'allowedLatenessMs'>): number {
  return Math.max(24 * HOUR, 2 * (funnel.conversionWindowMs + funnel.allowedLatenessMs + HOUR));
}

/**
 * How far behind the funnel's event time (max watermark over its partitions) a bucket must end before it is sealed:
 * a non-late event of an in-sync partition is at most allowedLateness old, and it may add a cohort conversion to an
 * entry bucket up to conversionWindow before it; one bucket width and one more as margin. Only partitions lagging
 * the others by more than that see sealed buckets, and their writes there count as late.
 */
export function sealDelayMs(funnel: Pick<FunnelDef, 'conversionWindowMs' | 'allowedLatenessMs' | 'bucketMs'>): number {
  return funnel.allowedLatenessMs + funnel.conversionWindowMs + 2 * funnel.bucketMs;
}

/** The sealing horizon for a funnel whose newest event time is `eventTime`: buckets starting before it are sealed. */
export function sealHorizon(
  funnel: Pick<FunnelDef, 'conversionWindowMs' | 'allowedLatenessMs' | 'bucketMs'>,
  eventTime: number,
): number {
  return Math.floor((eventTime - sealDelayMs(funnel)) / funnel.bucketMs) * funnel.bucketMs;
}

/** TTL of the funnel-level keys (partition set, dimension registry, compaction marker): they outlive every bucket. */
export function funnelKeyTtl(funnel: Pick<FunnelDef, 'retention'>): number {
  return funnel.retention.rollupMs + funnel.retention.rollupBucketMs + 24 * HOUR;
}

/** Groups a bucket can hold: totals, one per dimension, one duration histogram per later step. */
export function bucketGroups(funnel: Pick<FunnelDef, 'steps' | 'dimensions'>): string[] {
  const g = ['t'];
  funnel.dimensions.forEach((_, i) => g.push(`d${i}`));
  for (let s = 1; s < funnel.steps.length; s++) g.push(`h${s}`);
  return g;
}

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
    throw new FwError(
      'WINDOW_BAD_NAME',
      `${what} "${v}" must be non-empty and contain no '{' or '}' (it is part of a Redis hash tag)`,
    );
  }
}

export class KeyLayout {
  constructor(readonly prefix: string) {
    if (prefix.length === 0 || /[{}]/.test(prefix)) {
      throw new FwError('WINDOW_BAD_PREFIX', `key prefix "${prefix}" must be non-empty and contain no braces`);
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

  /** A hot bucket of one partition (hot buckets are fine only since compaction writes the rollups). */
  bucket(funnel: string, partition: string, res: 'f' | 'r', startMs: number, group: string): string {
    return `${this.partitionBase(funnel, partition)}${res}:${Math.floor(startMs / 1000)}:${group}`;
  }

  /** Everything funnel-level starts with this (`p:{F}:`). */
  funnelBase(funnel: string): string {
    checkTagPart('funnel name', funnel);
    return `${this.prefix}:{${funnel}}:`;
  }

  /** A history bucket: the sum over partitions, written by compaction. */
  historyBucket(funnel: string, res: 'f' | 'r', startMs: number, group: string): string {
    return `${this.funnelBase(funnel)}${res}:${Math.floor(startMs / 1000)}:${group}`;
  }

  /** Compaction meta: sealing horizon `s` and `c` compactedUpTo. */
  compaction(funnel: string): string {
    return `${this.funnelBase(funnel)}c`;
  }

  entityShard(funnel: string, partition: string, shard: number): string {
    return `${this.partitionBase(funnel, partition)}e:${shard}`;
  }

  partitions(funnel: string): string {
    return `${this.funnelBase(funnel)}parts`;
  }

  dims(funnel: string): string {
    return `${this.funnelBase(funnel)}dims`;
  }
}

/** Refuses funnel shapes the key layout and field codes cannot represent, before anything is written. */
export function checkFunnelShape(funnel: FunnelDef): void {
  const bad = (msg: string) => new FwError('WINDOW_UNSUPPORTED_FUNNEL', `funnel "${funnel.name}": ${msg}`);
  if (funnel.steps.length < 1 || funnel.steps.length > MAX_STEPS)
    throw bad(`needs 1..${MAX_STEPS} steps, has ${funnel.steps.length}`);
  for (const d of funnel.dimensions) {
    if (!(d.maxValues >= 1 && d.maxValues <= MAX_DIMENSION_VALUES))
      throw bad(`dimension ${d.name}: maxValues must be 1..${MAX_DIMENSION_VALUES}`);
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

/** The window [from, to) widened to whole fine buckets, with the fine (f) and rollup (r) bucket widths. */
function alignWindow(funnel: Pick<FunnelDef, 'bucketMs' | 'retention'>, from: number, to: number) {
  const f = funnel.bucketMs;
  const r = funnel.retention.rollupBucketMs;
  return { f, r, lo: Math.floor(from / f) * f, hi: Math.ceil(to / f) * f };
}

/**
 * Which buckets answer a window [from, to). Whole rollup buckets inside the window are read from rollups (few keys
 * for a five-week baseline); the ragged edges from fine buckets, unless those are older than `fineFrom` (already
 * expired), in which case the edge is widened to its enclosing rollup bucket and the returned `from`/`to` say so.
 * Rollups exist in history only; `splitAtCompacted` afterwards turns rollup buckets compaction has not finished
 * into their fine buckets.
 */
export function planWindow(
  funnel: Pick<FunnelDef, 'bucketMs' | 'retention'>,
  from: number,
  to: number,
  fineFrom: number,
): WindowPlan {
  const { f, r, lo, hi } = alignWindow(funnel, from, to);
  if (hi <= lo) return { from: lo, to: lo, ranges: [] };
  let rLo = Math.ceil(lo / r) * r;
  const rHi = Math.floor(hi / r) * r;
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
  const { f, r, lo, hi } = alignWindow(funnel, from, to);
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

/**
 * Rewrites a plan for the compaction state: a rollup bucket is complete only once compaction has passed its end
 * (`compactedTo`), so a rollup bucket reaching past it is read as its fine buckets instead (hot or history, per
 * bucket). The covered window does not change. Compaction runs about 40 minutes behind event time, so this turns
 * at most a few rollup buckets into fine ones.
 */
export function splitAtCompacted(
  funnel: Pick<FunnelDef, 'bucketMs'>,
  plan: WindowPlan,
  compactedTo: number,
): WindowPlan {
  const ranges: BucketRange[] = [];
  const push = (res: 'f' | 'r', widthMs: number, start: number) => {
    const last = ranges[ranges.length - 1];
    if (last && last.res === res && last.widthMs === widthMs) last.starts.push(start);
    else ranges.push({ res, widthMs, starts: [start] });
  };
  for (const r of plan.ranges) {
    for (const s of r.starts) {
      if (r.res === 'f' || s + r.widthMs <= compactedTo) push(r.res, r.widthMs, s);
      else for (let t = s; t < s + r.widthMs; t += funnel.bucketMs) push('f', funnel.bucketMs, t);
    }
  }
  return { from: plan.from, to: plan.to, ranges };
}
