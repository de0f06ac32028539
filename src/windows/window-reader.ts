/**
 * The read side of the Redis window store: HGETALL of the buckets a window needs, from history below compactedUpTo
 * and from every partition's hot keys above it, pipelined per slot (history keys share the funnel's tag, each
 * partition's hot keys its own), summed in memory. The evaluator reads `bucketCounts`; ingest, compaction and the
 * demo read offsets, watermarks and totals. The primitives they are built from (`consistent`, `plan`,
 * `readBuckets`...) are public so that every other query is built the same way.
 *
 * Why a read re-checks compactedUpTo at the end: compaction deletes the hot copies of the buckets it moved, so a
 * read that planned "hot" for a bucket a concurrent compaction then moved would miss it. If the marker moved while
 * reading, the read is done again (compaction advances about once a minute, so this is rare).
 */
import type { FunnelDef } from '../funnels/funnel.js';
import { FwError } from '../core/errors.js';
import { addHash, codeNames, decodeDimension, decodeTotals, type FieldCounts } from './aggregate.js';
import {
  checkFunnelShape,
  dimCohortField,
  dimVolumeField,
  type KeyLayout,
  planWindow,
  planWindowPreferFine,
  splitAtCompacted,
  type WindowPlan,
} from './key-layout.js';
import { redisFailure, type RedisLike } from './lua-scripts.js';
import type { BucketCounts, BucketSeries, StepTotals, WindowQuery } from './window-store.js';

/** One bucket a read needs: a fine bucket (history or hot, decided by compactedUpTo) or a history rollup. */
export interface BucketRef {
  res: 'f' | 'r';
  start: number;
  widthMs: number;
}

/** What a read is planned against: the partitions, their meta hashes and the funnel's compactedUpTo. */
export interface ReadView {
  parts: string[];
  metas: Map<string, Record<string, string>>;
  /** -Infinity when nothing was compacted yet. */
  compactedTo: number;
}

/** A read is retried at most this many times when compaction moves under it; the last answer is returned then. */
const READ_ATTEMPTS = 5;

export class RedisWindowReader {
  constructor(
    private readonly redis: RedisLike,
    private readonly keys: KeyLayout,
  ) {}

  async partitions(def: FunnelDef): Promise<string[]> {
    try {
      return (await this.redis.smembers(this.keys.partitions(def.name))).sort();
    } catch (err) {
      throw redisFailure(err, `funnel ${def.name}: partitions`);
    }
  }

  async getOffsets(def: FunnelDef, partitions: readonly string[]): Promise<Map<string, number | undefined>> {
    const out = new Map<string, number | undefined>();
    await Promise.all(
      partitions.map(async (p) => {
        let v: string | null;
        try {
          v = await this.redis.hget(this.keys.meta(def.name, p), 'o');
        } catch (err) {
          throw redisFailure(err, `funnel ${def.name} partition ${p}: offsets`);
        }
        out.set(p, v === null ? undefined : Number(v));
      }),
    );
    return out;
  }

  async getWatermarks(def: FunnelDef): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const metas = await this.metas(def);
    for (const [p, m] of metas) if (m.w !== undefined) out.set(p, Number(m.w));
    return out;
  }

  async metas(def: FunnelDef, known?: readonly string[]): Promise<Map<string, Record<string, string>>> {
    const parts = known ?? (await this.partitions(def));
    const out = new Map<string, Record<string, string>>();
    await Promise.all(
      parts.map(async (p) => {
        try {
          out.set(p, await this.redis.hgetall(this.keys.meta(def.name, p)));
        } catch (err) {
          throw redisFailure(err, `funnel ${def.name} partition ${p}: meta`);
        }
      }),
    );
    return out;
  }

  /** Partitions, their metas and compactedUpTo, as one read plans against them. */
  async view(def: FunnelDef): Promise<ReadView> {
    let parts: string[];
    let c: string | null;
    try {
      // Both funnel-level keys share the funnel's slot: one pipeline.
      const res = await this.redis
        .pipeline()
        .smembers(this.keys.partitions(def.name))
        .hget(this.keys.compaction(def.name), 'c')
        .exec();
      for (const [err] of res ?? []) if (err) throw err;
      parts = ((res?.[0]?.[1] as string[] | undefined) ?? []).sort();
      c = (res?.[1]?.[1] as string | null | undefined) ?? null;
    } catch (err) {
      throw redisFailure(err, `funnel ${def.name}: partitions`);
    }
    return {
      parts,
      metas: await this.metas(def, parts),
      compactedTo: c === null ? Number.NEGATIVE_INFINITY : Number(c),
    };
  }

  async compactedTo(def: FunnelDef): Promise<number> {
    let c: string | null;
    try {
      c = await this.redis.hget(this.keys.compaction(def.name), 'c');
    } catch (err) {
      throw redisFailure(err, `funnel ${def.name}: compaction marker`);
    }
    return c === null ? Number.NEGATIVE_INFINITY : Number(c);
  }

  /**
   * Runs a read against a view, again if compaction moved while it ran (the hot copies it read may have been
   * deleted under it; the module comment explains).
   */
  async consistent<T>(def: FunnelDef, read: (v: ReadView) => Promise<T>): Promise<T> {
    checkFunnelShape(def);
    for (let attempt = 1; ; attempt++) {
      const v = await this.view(def);
      const out = await read(v);
      if (attempt >= READ_ATTEMPTS || (await this.compactedTo(def)) === v.compactedTo) return out;
    }
  }

  /**
   * HGETALL of every bucket × group: history keys (rollups, and fine buckets below compactedUpTo) in one pipeline on
   * the funnel's slot, hot fine buckets in one pipeline per partition (one slot each), summed. Result [group][bucket].
   */
  async readBuckets(
    def: FunnelDef,
    v: ReadView,
    buckets: readonly BucketRef[],
    groups: readonly string[],
    context: string,
    /** Per group: read only these hash fields (HMGET) instead of the whole hash. */
    fields?: readonly (readonly number[] | undefined)[],
  ): Promise<FieldCounts[][]> {
    const out = groups.map(() => buckets.map((): FieldCounts => new Map()));
    const history: number[] = [];
    const hot: number[] = [];
    buckets.forEach((b, i) => (b.res === 'r' || b.start + b.widthMs <= v.compactedTo ? history : hot).push(i));
    const run = async (keyOf: (b: BucketRef, g: string) => string, idx: number[], where: string) => {
      if (idx.length === 0) return;
      const pipe = this.redis.pipeline();
      groups.forEach((g, k) => {
        const only = fields?.[k];
        for (const i of idx) {
          if (!only) pipe.hgetall(keyOf(buckets[i]!, g));
          else if (only.length === 0)
            pipe.exists(keyOf(buckets[i]!, g)); // nothing to read: keep the reply order
          else pipe.hmget(keyOf(buckets[i]!, g), ...only.map(String));
        }
      });
      let res: [Error | null, unknown][] | null;
      try {
        res = await pipe.exec();
      } catch (err) {
        throw redisFailure(err, `${context} (${where})`);
      }
      (res ?? []).forEach(([err, val], j) => {
        if (err) throw redisFailure(err, `${context} (${where})`);
        const k = Math.floor(j / idx.length);
        const only = fields?.[k];
        let hash = val as Record<string, string>;
        if (only) {
          const got = (Array.isArray(val) ? val : []) as (string | null)[];
          hash = {};
          only.forEach((f, n) => {
            if (got[n] !== null && got[n] !== undefined) hash[f] = got[n];
          });
        }
        addHash(out[k]![idx[j % idx.length]!]!, hash);
      });
    };
    await Promise.all([
      run((b, g) => this.keys.historyBucket(def.name, b.res, b.start, g), history, 'history'),
      ...v.parts.map((p) => run((b, g) => this.keys.bucket(def.name, p, 'f', b.start, g), hot, `partition ${p}`)),
    ]);
    return out;
  }

  /** Plans a window against the fine retention measured from the newest watermark, and against compaction. */
  plan(q: WindowQuery, v: ReadView, preferFine = false): WindowPlan {
    const { funnel: def, from, to } = q;
    const wms: number[] = [];
    for (const m of v.metas.values()) if (m.w !== undefined) wms.push(Number(m.w));
    const fineFrom = wms.length > 0 ? Math.max(...wms) - def.retention.fineMs : Number.NEGATIVE_INFINITY;
    return splitAtCompacted(
      def,
      (preferFine ? planWindowPreferFine : planWindow)(def, from, to, fineFrom),
      v.compactedTo,
    );
  }

  planBuckets(plan: WindowPlan): BucketRef[] {
    return plan.ranges.flatMap((r) => r.starts.map((start) => ({ res: r.res, start, widthMs: r.widthMs })));
  }

  async sumPlan(def: FunnelDef, v: ReadView, plan: WindowPlan, group: string, context: string): Promise<FieldCounts> {
    const [per] = await this.readBuckets(def, v, this.planBuckets(plan), [group], context);
    const total: FieldCounts = new Map();
    for (const m of per!) for (const [f, n] of m) total.set(f, (total.get(f) ?? 0) + n);
    return total;
  }

  async stepTotals(q: WindowQuery): Promise<StepTotals> {
    const def = q.funnel;
    const { plan, fields } = await this.consistent(def, async (v) => {
      const plan = this.plan(q, v);
      return { plan, fields: await this.sumPlan(def, v, plan, 't', `funnel ${def.name}: totals`) };
    });
    const t = decodeTotals(fields, def.steps.length);
    return {
      from: plan.from,
      to: plan.to,
      volume: t.volume,
      duplicates: t.duplicates,
      outOfOrder: t.outOfOrder,
      noEntry: t.noEntry,
      expired: t.expired,
    };
  }

  dimIndex(def: FunnelDef, dimension: string): number {
    const i = def.dimensions.findIndex((d) => d.name === dimension);
    if (i < 0) {
      throw new FwError(
        'WINDOW_UNKNOWN_DIMENSION',
        `funnel ${def.name} has no dimension "${dimension}" ` +
          `(it has: ${def.dimensions.map((d) => d.name).join(', ') || 'none'})`,
      );
    }
    return i;
  }

  /** Code → value for one dimension, read from the registry. */
  async names(def: FunnelDef, dimension: string): Promise<Map<number, string>> {
    let all: Record<string, string>;
    try {
      all = await this.redis.hgetall(this.keys.dims(def.name));
    } catch (err) {
      throw redisFailure(err, `funnel ${def.name}: dimension registry`);
    }
    const registered = new Map<string, number>();
    const prefix = `${dimension}\0`;
    for (const [f, v] of Object.entries(all))
      if (f.startsWith(prefix)) registered.set(f.slice(prefix.length), Number(v));
    return codeNames(registered);
  }

  async bucketCounts(
    q: WindowQuery & {
      resolution: 'fine' | 'rollup';
      dimensions?: readonly string[];
      values?: Readonly<Record<string, readonly string[]>>;
      durationSteps?: readonly number[];
    },
  ): Promise<BucketSeries> {
    const def = q.funnel;
    const nSteps = def.steps.length;
    const dims = [...new Set(q.dimensions ?? [])];
    const dimIdx = dims.map((d) => this.dimIndex(def, d));
    const durSteps = [...new Set(q.durationSteps ?? [])];
    for (const s of durSteps) this.checkStep(def, s);
    const width = q.resolution === 'fine' ? def.bucketMs : def.retention.rollupBucketMs;
    const refs: BucketRef[] = [];
    for (let start = Math.ceil(q.from / width) * width; start < q.to; start += width) {
      refs.push({ res: q.resolution === 'fine' ? 'f' : 'r', start, widthMs: width });
    }
    const groups = ['t', ...dimIdx.map((i) => `d${i}`), ...durSteps.filter((s) => s >= 1).map((s) => `h${s}`)];
    const names = await Promise.all(dims.map((d) => this.names(def, d)));
    // A dimension asked for some values only: its hash fields for those values' codes (HMGET), not the whole hash.
    const fields = groups.map((_g, k): number[] | undefined => {
      const wanted = k >= 1 && k <= dims.length ? q.values?.[dims[k - 1]!] : undefined;
      if (!wanted) return undefined;
      const codes = [...names[k - 1]!].filter(([, name]) => wanted.includes(name)).map(([code]) => code);
      return codes.flatMap((c) =>
        Array.from({ length: nSteps }, (_, step) => [dimVolumeField(step, c), dimCohortField(step, c)]).flat(),
      );
    });
    const { per, compactedTo } = await this.consistent(def, async (v) => ({
      per:
        refs.length === 0
          ? groups.map(() => [])
          : await this.readBuckets(def, v, refs, groups, `funnel ${def.name}: bucket counts`, fields),
      compactedTo: v.compactedTo,
    }));
    const buckets = refs.map((b, j): BucketCounts => {
      const t = decodeTotals(per[0]![j]!, nSteps);
      const out: BucketCounts = {
        start: b.start,
        widthMs: width,
        volume: t.volume,
        cohort: t.cohort,
        dims: {},
        durations: {},
      };
      dims.forEach((d, k) => {
        const dec = decodeDimension(per[1 + k]![j]!, nSteps, names[k]!);
        out.dims[d] = { volume: dec.volume, cohort: dec.cohort };
      });
      durSteps
        .filter((s) => s >= 1)
        .forEach((s, k) => {
          out.durations[s] = Object.fromEntries(per[1 + dims.length + k]![j]!);
        });
      return out;
    });
    return { resolution: q.resolution, buckets, compactedTo };
  }

  checkStep(def: FunnelDef, step: number): void {
    if (!Number.isInteger(step) || step < 0 || step >= def.steps.length) {
      throw new FwError('WINDOW_UNKNOWN_STEP', `funnel ${def.name} has steps 0..${def.steps.length - 1}, not ${step}`);
    }
  }
}
