/**
 * What the evaluator reads: one funnel's per-bucket counts, funnel-wide and per segment value, at the two
 * resolutions the window store keeps (fine buckets for the scan, rollups for seasonal baselines).
 *
 * A port, not the store itself: the daemon backs it with buckets loaded from Redis (engine/funnel-data.ts, which
 * caches what compaction made immutable), the detection benchmark with simulated per-minute counts. Both drive the
 * same evaluation code (evaluate-rule.ts), which is what lets the benchmark measure the real rules at the level the
 * window store holds instead of event by event.
 */
import type { BucketCounts } from '../windows/window-store.js';
import type { SegmentRef } from '../model/segment.js';

export type { SegmentRef };

/**
 * A string naming one series of a rule ('' for the funnel-wide one), for caches and lookups within a rule. The
 * dimension's length goes first so that no two (dimension, value) pairs share a key, whatever the values hold.
 */
export function segmentKey(seg: SegmentRef | null): string {
  return seg === null ? '' : `${seg.dimension.length}:${seg.dimension}=${seg.value}`;
}

/** One bucket of one series: per-step volume and cohort reached (cohort[0] = entered). */
export interface BucketView {
  volume: ArrayLike<number>;
  cohort: ArrayLike<number>;
}

export interface SeriesReader {
  readonly bucketMs: number;
  readonly rollupMs: number;
  /** The fine bucket starting at `start` (funnel-wide when `seg` is null); undefined when nothing is kept. */
  fine(start: number, seg: SegmentRef | null): BucketView | undefined;
  /** The rollup bucket starting at `start` (compacted history only). */
  rollup(start: number, seg: SegmentRef | null): BucketView | undefined;
  /** Duration histogram (bucket index → count) into `step` in a fine bucket, funnel-wide. */
  durations(start: number, step: number): Readonly<Record<number, number>> | undefined;
  /** Values of a dimension seen in the fine buckets the reader holds, most traffic first. */
  values(dimension: string): string[];
}

const EMPTY: BucketView = { volume: [], cohort: [] };

/** A view of one bucket for one series (funnel-wide or one value). */
export function bucketView(b: BucketCounts, seg: SegmentRef | null): BucketView {
  if (seg === null) return { volume: b.volume, cohort: b.cohort };
  const d = b.dims[seg.dimension];
  if (!d) return EMPTY;
  return { volume: d.volume[seg.value] ?? [], cohort: d.cohort[seg.value] ?? [] };
}

/** A SeriesReader over buckets held in memory, keyed by start. */
export class MapSeriesReader implements SeriesReader {
  constructor(
    readonly bucketMs: number,
    readonly rollupMs: number,
    private readonly fineBuckets: ReadonlyMap<number, BucketCounts>,
    private readonly rollupBuckets: ReadonlyMap<number, BucketCounts>,
  ) {}

  fine(start: number, seg: SegmentRef | null): BucketView | undefined {
    const b = this.fineBuckets.get(start);
    return b ? bucketView(b, seg) : undefined;
  }

  rollup(start: number, seg: SegmentRef | null): BucketView | undefined {
    const b = this.rollupBuckets.get(start);
    return b ? bucketView(b, seg) : undefined;
  }

  durations(start: number, step: number): Readonly<Record<number, number>> | undefined {
    return this.fineBuckets.get(start)?.durations[step];
  }

  private readonly valuesMemo = new Map<string, string[]>();

  values(dimension: string): string[] {
    // Every rule with this segment asks; the buckets do not change while a reader is in use (one per look).
    const hit = this.valuesMemo.get(dimension);
    if (hit) return hit;
    const vol = new Map<string, number>();
    for (const b of this.fineBuckets.values()) {
      const d = b.dims[dimension];
      if (!d) continue;
      for (const [v, steps] of Object.entries(d.volume)) vol.set(v, (vol.get(v) ?? 0) + (steps[0] ?? 0));
    }
    const out = [...vol.entries()]
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([v]) => v);
    this.valuesMemo.set(dimension, out);
    return out;
  }
}

/**
 * The series of a rule that watches a slice (`where: {platform: android}`): its funnel-wide series is the sum of the
 * kept values' series of that dimension, so the rule has its own baseline, noise and detector for the slice. Other
 * dimensions read as empty (the windows hold no combinations, so a drill-down inside the slice can only name the
 * kept values); durations are funnel-wide only, so a slice has none (validation refuses such a rule).
 */
export function sliceReader(
  inner: SeriesReader,
  slice: { dimension: string; values: readonly string[] },
): SeriesReader {
  const sum = (views: (BucketView | undefined)[]): BucketView | undefined => {
    const present = views.filter((v): v is BucketView => v !== undefined);
    if (present.length === 0) return undefined;
    const add = (pick: (v: BucketView) => ArrayLike<number>) => {
      const len = Math.max(...present.map((v) => pick(v).length));
      const out = new Array<number>(len).fill(0);
      for (const v of present) for (let i = 0; i < pick(v).length; i++) out[i]! += pick(v)[i] ?? 0;
      return out;
    };
    return { volume: add((v) => v.volume), cohort: add((v) => v.cohort) };
  };
  const read =
    (at: (start: number, seg: SegmentRef | null) => BucketView | undefined) =>
    (start: number, seg: SegmentRef | null): BucketView | undefined => {
      if (seg === null) return sum(slice.values.map((value) => at(start, { dimension: slice.dimension, value })));
      if (seg.dimension === slice.dimension && slice.values.includes(seg.value)) return at(start, seg);
      return undefined;
    };
  return {
    bucketMs: inner.bucketMs,
    rollupMs: inner.rollupMs,
    fine: read((s, g) => inner.fine(s, g)),
    rollup: read((s, g) => inner.rollup(s, g)),
    durations: () => undefined,
    values: (dimension) =>
      dimension === slice.dimension ? inner.values(dimension).filter((v) => slice.values.includes(v)) : [],
  };
}
