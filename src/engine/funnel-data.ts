/**
 * The evaluator's view of one funnel in Redis: the fine buckets of the last hours and the rollups of the seasonal
 * slots, read through the window store and cached where compaction made them immutable.
 *
 * Why a cache: one look at 50 rules × 40 segment values needs the last ~15 hours of fine buckets (scan, trailing
 * baselines, noise) and, for seasonal rules, the same slots in up to several past weeks. Read from scratch every
 * minute that is thousands of hashes; but everything below the funnel's compactedUpTo is final (window-store.ts,
 * "life of a bucket"), so after the first look only the hot tail (the last ~40 minutes) and one new rollup per
 * week per 15 minutes are read again. The cache is per process; a replica that becomes leader fills it once.
 */
import type { FunnelDef } from '../funnels/funnel.js';
import type { BucketCounts, WindowStore } from '../windows/window-store.js';
import { MapSeriesReader, type SeriesReader } from '../detect/series-reader.js';

const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;
/** Fine history the evaluator keeps: scan (4 h) + noise span (12 h) + its 2 h lead-in + slack. */
export const FINE_SPAN_MS = 19 * HOUR;
/**
 * Around each past week's slot: the scan span, the level span and gap, the ± half-width
 * (detect/series-baseline.ts).
 */
const ROLLUP_BEFORE_MS = 4 * HOUR + 10 * HOUR + HOUR;
const ROLLUP_AFTER_MS = 2 * HOUR;
/** Buckets per window-store read, so one pipeline stays a few thousand commands. */
const READ_CHUNK = 180;

export interface FunnelNeeds {
  dimensions: readonly string[];
  durationSteps: readonly number[];
  /** Past weeks the seasonal rules of this funnel look at (0 = none). */
  seasonalWeeks: number;
}

export class FunnelData {
  private readonly fine = new Map<number, BucketCounts>();
  private readonly rollups = new Map<number, BucketCounts>();
  private needsKey = '';
  /** Buckets read by the last refresh (for metrics and the benchmark). */
  lastReadBuckets = 0;

  constructor(
    private readonly store: WindowStore,
    private funnel: FunnelDef,
  ) {}

  /** Brings the cache up to `evalTo` and returns a reader over it. */
  async refresh(funnel: FunnelDef, evalTo: number, needs: FunnelNeeds): Promise<SeriesReader> {
    const key = JSON.stringify([funnel, needs]);
    if (key !== this.needsKey) {
      // Another rule set (new dimensions, new funnel settings): start over rather than mix shapes.
      this.fine.clear();
      this.rollups.clear();
      this.needsKey = key;
      this.funnel = funnel;
    }
    const b = funnel.bucketMs;
    const r = funnel.retention.rollupBucketMs;
    const fineFrom = evalTo - Math.floor(FINE_SPAN_MS / b) * b;
    for (const k of this.fine.keys()) if (k < fineFrom || k >= evalTo) this.fine.delete(k);
    let read = 0;
    read += await this.fill('fine', range(fineFrom, evalTo, b), this.fine, needs);
    const wanted = new Set<number>();
    for (let w = 1; w <= needs.seasonalWeeks; w++) {
      for (const t of range(
        Math.floor((evalTo - w * WEEK - ROLLUP_BEFORE_MS) / r) * r,
        evalTo - w * WEEK + ROLLUP_AFTER_MS,
        r,
      ))
        wanted.add(t);
    }
    for (const k of this.rollups.keys()) if (!wanted.has(k)) this.rollups.delete(k);
    read += await this.fill(
      'rollup',
      [...wanted].sort((x, y) => x - y),
      this.rollups,
      needs,
    );
    this.lastReadBuckets = read;
    return new MapSeriesReader(b, r, this.fine, this.rollups);
  }

  /** Reads the buckets that are missing or not yet final, in contiguous runs. */
  private async fill(
    resolution: 'fine' | 'rollup',
    starts: number[],
    into: Map<number, BucketCounts>,
    needs: FunnelNeeds,
  ): Promise<number> {
    const width = resolution === 'fine' ? this.funnel.bucketMs : this.funnel.retention.rollupBucketMs;
    const todo = starts.filter((s) => !into.has(s) || !(into.get(s) as CachedBucket).final);
    const runs: [number, number][] = [];
    for (const s of todo) {
      const last = runs[runs.length - 1];
      if (last && last[1] === s && (last[1] - last[0]) / width < READ_CHUNK) last[1] = s + width;
      else runs.push([s, s + width]);
    }
    await Promise.all(
      runs.map(async ([from, to]) => {
        const res = await this.store.bucketCounts({
          funnel: this.funnel,
          from,
          to,
          resolution,
          dimensions: needs.dimensions,
          durationSteps: needs.durationSteps,
        });
        for (const bc of res.buckets) {
          (bc as CachedBucket).final = bc.start + bc.widthMs <= res.compactedTo;
          into.set(bc.start, bc);
        }
      }),
    );
    return todo.length;
  }
}

type CachedBucket = BucketCounts & { final?: boolean };

/**
 * Where the evaluator gets a funnel's data: its watermark, and a reader over its buckets up to `evalTo`. The
 * daemon's is the window store (below); the detection benchmark's is a simulated stream.
 */
export interface FunnelSource {
  watermark(funnel: FunnelDef): Promise<number | undefined>;
  reader(funnel: FunnelDef, evalTo: number, needs: FunnelNeeds): Promise<SeriesReader>;
  /** Forgets everything cached (Redis lost its data: what was final there is gone). */
  invalidate?(): void;
}

/** The window store as a FunnelSource, with one FunnelData cache per funnel. */
export class StoreFunnelSource implements FunnelSource {
  private readonly data = new Map<string, FunnelData>();
  constructor(private readonly store: WindowStore) {}

  async watermark(funnel: FunnelDef): Promise<number | undefined> {
    const wms = [...(await this.store.getWatermarks(funnel)).values()];
    return wms.length > 0 ? Math.max(...wms) : undefined;
  }

  reader(funnel: FunnelDef, evalTo: number, needs: FunnelNeeds): Promise<SeriesReader> {
    let d = this.data.get(funnel.name);
    if (!d) {
      d = new FunnelData(this.store, funnel);
      this.data.set(funnel.name, d);
    }
    return d.refresh(funnel, evalTo, needs);
  }

  invalidate(): void {
    this.data.clear();
  }
}

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let t = from; t < to; t += step) out.push(t);
  return out;
}
