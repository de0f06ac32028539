/**
 * WindowStore on Redis (standalone or Cluster). Writes: match events in memory, give dimension values their codes,
 * read the partition's meta and the batch's entity states in one pipelined round trip, run the cohort/entity state
 * machine here (apply-plan.ts), then ONE Lua call per (funnel, partition, batch) writes all counter deltas, entity
 * states, watermark and the offset atomically (lua/applyBatch-2.lua), into the partition's HOT fine buckets, and only
 * if the offset and sealedUpTo are still those the batch was computed from (else: read and compute again). `compact()` seals buckets the funnel's
 * event time has left behind and moves them, summed over partitions, into funnel-level HISTORY (fine + rollups),
 * exactly once. Reads: HGETALL of the buckets a window needs, from history below compactedUpTo and from every
 * partition's hot keys above it, pipelined per slot (history keys share the funnel's tag, each partition's hot keys
 * its own), summed in memory.
 *
 * Why the partitions of a funnel are registered in a funnel-level set (`p:{F}:parts`) rather than passed in by the
 * caller: readers (evaluator, API, CLI) do not know which partitions or HTTP sources ever wrote, and a partition
 * count that grows must not hide old data. The set is written once per partition per process (cached), so it costs
 * nothing on the hot path. Registering also reads the funnel's sealing horizon, which the partition's batches pass
 * to Lua as its seal floor: a partition that appears while a compaction is running cannot write below it
 * (beginSeal-2.lua explains the ordering).
 *
 * Why dimension codes come from a funnel-level registry (`p:{F}:dims`) written by a separate small script before the
 * batch: the cap "first maxValues values get their own counter" must mean the same on every partition, or the sum
 * over partitions would mix a value's counter with `other`. The registry only grows and a code never changes, so
 * registering before the atomic apply is safe under replays and crashes; cached codes make the call rare.
 *
 * Why a read re-checks compactedUpTo at the end: compaction deletes the hot copies of the buckets it moved, so a
 * read that planned "hot" for a bucket a concurrent compaction then moved would miss it. If the marker moved while
 * reading, the read is done again (compaction advances about once a minute, so this is rare).
 */
import type { FwEvent } from '../events/event.js';
import type { FunnelDef } from '../funnels/funnel.js';
import { compileStepMatcher, entityReader } from '../funnels/match.js';
import { FwError } from '../errors.js';
import {
  addHash, codeNames, cohortCounts, decodeDimension, decodeTotals, ratio,
  type CohortBucket, type FieldCounts,
} from './aggregate.js';
import { histogramPercentile, type DurationHistogram } from './histogram.js';
import {
  addStoredState, encodeCommit, LOOKUP_ABOVE, LOOKUP_BELOW, planBatch, planStateRead, type BatchEvents, type PlanParams,
  type StateReadPlan,
} from './apply-plan.js';
import {
  bucketGroups, checkFunnelShape, fineStarts, hotKeepMs, KeyLayout, MISSING_CODE, OTHER_CODE, planWindow,
  planWindowPreferFine, sealHorizon, splitAtCompacted, type WindowPlan,
} from './key-layout.js';
import {
  callWindowCommand, defineWindowCommands, interpretApplyReply, interpretBeginSealReply, interpretCompactReply,
  interpretReadStateReply, interpretRegisterReply, interpretSealReply, redisFailure, type RedisLike,
} from './lua-scripts.js';
import type {
  ApplyBatchInput, ApplyResult, BucketCounts, BucketSeries, CohortConversion, CohortCounts, CompactOptions, CompactResult, DimensionVolume,
  DurationStats, PartitionCounters, RatioConversion, StepTotals, VolumeSeries, WindowQuery, WindowStore,
} from './window-store.js';

export interface RedisWindowStoreOptions {
  redis: RedisLike;
  /** Key prefix; default 'fw'. */
  prefix?: string;
}

/** Entity ids are stored as UTF-8, where a lone UTF-16 surrogate (possible through a JSON "\\ud800" escape) has
 *  no encoding: replaced by U+FFFD, as the Redis client's UTF-8 encoding always did, so that the JSON the commit
 *  script decodes is valid and such an id cannot make its batch fail forever. */
function wellFormed(s: string): string {
  const w = s as string & { isWellFormed(): boolean; toWellFormed(): string };
  return w.isWellFormed() ? s : w.toWellFormed();
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface DimCache {
  codes: Map<string, number>;
  /** The registry had given `maxValues` codes when last asked, for this `maxValues`. */
  fullAt: number | undefined;
}

interface FunnelCache {
  def: FunnelDef;
  stepOf: (ev: FwEvent) => number;
  readEntity: (ev: FwEvent) => string;
  dimNames: string[];
  /** The caches of `dims`, in the order of `def.dimensions`. */
  dimCaches: DimCache[];
  planParams: PlanParams;
  dims: Map<string, DimCache>;
  /** Partitions this process registered → the funnel's sealing horizon read right after (the seal floor). */
  partitions: Map<string, number | undefined>;
  lastTtlRefresh: number;
}

/** One bucket a read needs: a fine bucket (history or hot, decided by compactedUpTo) or a history rollup. */
interface BucketRef {
  res: 'f' | 'r';
  start: number;
  widthMs: number;
}

/** What a read is planned against: the partitions, their meta hashes and the funnel's compactedUpTo. */
interface ReadView {
  parts: string[];
  metas: Map<string, Record<string, string>>;
  /** -Infinity when nothing was compacted yet. */
  compactedTo: number;
}

/** Fine buckets per compact Lua call: keeps one call's arguments in the tens of thousands at most. */
const COMPACT_CHUNK = 30;
const DEFAULT_COMPACT_MAX_BUCKETS = 1440;
/** A read is retried at most this many times when compaction moves under it; the last answer is returned then. */
const READ_ATTEMPTS = 5;
/** applyBatch reads and computes again at most this many times when its commit finds the partition changed. */
const APPLY_ATTEMPTS = 8;

export class RedisWindowStore implements WindowStore {
  private readonly redis: RedisLike;
  private readonly keys: KeyLayout;
  private readonly funnels = new Map<string, FunnelCache>();

  constructor(opts: RedisWindowStoreOptions) {
    this.redis = opts.redis;
    this.keys = new KeyLayout(opts.prefix ?? 'fw');
    defineWindowCommands(this.redis);
  }

  /** Compiled matcher and caches per funnel; rebuilt when the definition object changes (rule reload). */
  private funnel(def: FunnelDef): FunnelCache {
    let c = this.funnels.get(def.name);
    if (c && c.def === def) return c;
    checkFunnelShape(def);
    const dims: Map<string, DimCache> = c?.dims ?? new Map();
    const dimCaches = def.dimensions.map((d) => {
      let dc = dims.get(d.name);
      if (!dc) dims.set(d.name, (dc = { codes: new Map(), fullAt: undefined }));
      return dc;
    });
    c = { def, stepOf: compileStepMatcher(def), readEntity: entityReader(def.entityField), dimNames: def.dimensions.map((d) => d.name),
      dimCaches, dims, partitions: c?.partitions ?? new Map(), lastTtlRefresh: c?.lastTtlRefresh ?? Number.NEGATIVE_INFINITY,
      planParams: { bucketMs: def.bucketMs, hotKeepMs: hotKeepMs(def), conversionWindowMs: def.conversionWindowMs,
        allowedLatenessMs: def.allowedLatenessMs, nDims: def.dimensions.length } };
    this.funnels.set(def.name, c);
    return c;
  }

  /** Funnel-level keys outlive every bucket they describe. */
  private funnelKeyTtl(def: FunnelDef): number {
    return def.retention.rollupMs + def.retention.rollupBucketMs + DAY;
  }

  /**
   * Optimistic concurrency (apply-plan.ts, lua/applyBatch-2.lua): read the partition's meta and the stored states
   * of the batch's entities in one pipelined round trip, run the state machine here, and commit the result in one
   * Lua call that writes only if the meta's offset and sealedUpTo are unchanged. A conflict (another writer or a
   * seal in between) reads and computes again; a batch at or below the stored offset is refused as before.
   */
  async applyBatch(input: ApplyBatchInput): Promise<ApplyResult> {
    const { funnel: def, partition, firstOffset, lastOffset, events, now } = input;
    const where = `funnel ${def.name} partition ${partition} offsets ${firstOffset}..${lastOffset}`;
    if (!Number.isSafeInteger(firstOffset) || !Number.isSafeInteger(lastOffset) || firstOffset > lastOffset) {
      throw new FwError('WINDOW_BAD_BATCH', `${where}: offsets must be integers with firstOffset <= lastOffset`);
    }
    const fc = this.funnel(def);
    const metaKey = this.keys.meta(def.name, partition);

    // Match, with dimension codes from the cache; values not cached yet get -1 and are fixed after registering.
    const nDims = def.dimensions.length;
    const { stepOf, readEntity, dimNames, dimCaches } = fc;
    let unmatched = 0;
    let noEntity = 0;
    const steps: number[] = [];
    const ts: number[] = [];
    const entities: string[] = [];
    const codes: number[] = [];
    let fixAt: number[] | undefined;
    let fixValue: string[] | undefined;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      const step = stepOf(ev);
      if (step < 0) { unmatched++; continue; }
      const entity = wellFormed(readEntity(ev));
      if (entity === '') { noEntity++; continue; }
      if (!Number.isFinite(ev.ts)) {
        throw new FwError('WINDOW_BAD_EVENT', `${where}: event ${ev.id} has no valid ts (${String(ev.ts)})`);
      }
      steps.push(step);
      ts.push(Math.floor(ev.ts));
      entities.push(entity);
      for (let d = 0; d < nDims; d++) {
        const v = ev.attrs[dimNames[d]!];
        if (v === undefined || v === '') { codes.push(MISSING_CODE); continue; }
        const dc = dimCaches[d]!;
        const code = dc.codes.get(v);
        if (code !== undefined) codes.push(code);
        else if (dc.fullAt === def.dimensions[d]!.maxValues) codes.push(OTHER_CODE);
        else {
          (fixAt ??= []).push(codes.length);
          (fixValue ??= []).push(v);
          codes.push(-1);
        }
      }
    }
    const batch: BatchEvents = { n: steps.length, steps, ts, entities, codes };
    const W = def.conversionWindowMs;

    for (let attempt = 1; ; attempt++) {
      const read = planStateRead(batch, W);
      const meta = await this.readState(metaKey, read, W, where);
      // A redelivered batch must leave no trace, not even in the value registry (the cap order would change).
      if (meta.o !== null && Number(meta.o) >= firstOffset) return { status: 'duplicate', storedOffset: Number(meta.o) };
      if (fixAt) {
        await this.registerDimValues(fc, fixAt, fixValue!, codes, where);
        fixAt = undefined;
      }
      const sealFloor = await this.registerPartition(fc, partition, now, where);
      const stored = meta.s === null ? undefined : Number(meta.s);
      const sealed = sealFloor !== undefined && (stored === undefined || sealFloor > stored) ? sealFloor : stored;
      const plan = planBatch(fc.planParams, meta.w === null ? undefined : Number(meta.w), sealed, batch, read);
      const argv = encodeCommit({
        firstOffset, lastOffset, readOffset: meta.o ?? '', readSealed: meta.s ?? '', sealFloor,
        conversionWindowMs: W, allowedLatenessMs: def.allowedLatenessMs, bucketMs: def.bucketMs,
        hotKeepMs: fc.planParams.hotKeepMs, shardTtlMs: 4 * W + def.allowedLatenessMs + DAY,
        metaTtlMs: this.funnelKeyTtl(def), unmatched, noEntity,
      }, plan, read);
      const reply = interpretApplyReply(await callWindowCommand(this.redis, 'applyBatch', [metaKey], [JSON.stringify(argv)], where), where);
      if (reply.status === 'duplicate') return reply;
      if (reply.status === 'applied') {
        const c = plan.counts;
        return {
          status: 'applied',
          storedOffset: lastOffset,
          watermark: plan.watermark,
          counts: {
            events: events.length, unmatched, noEntity, matched: batch.n, lateDropped: c.late,
            entries: c.entries, steps: c.steps, duplicates: c.duplicates, outOfOrder: c.outOfOrder,
            noEntry: c.noEntry, expired: c.expired, lateCohort: c.lateCohort,
          },
        };
      }
      if (attempt >= APPLY_ATTEMPTS) {
        throw new FwError('WINDOW_APPLY_CONFLICT', `${where}: the partition's state kept changing between read and ` +
          `commit (${attempt} attempts; stored offset now ${reply.storedOffset || 'none'}); is another writer applying ` +
          'this partition?');
      }
    }
  }

  /**
   * One call in the partition's slot (lua/readState-2.lua): the meta's offset, watermark and sealedUpTo, and the
   * stored state of each of the batch's entities in every shard its events may look up, added to `read.recs`.
   */
  private async readState(metaKey: string, read: StateReadPlan, W: number, where: string):
    Promise<{ o: string | null; w: string | null; s: string | null }> {
    // Per shard, the entities (by index) to look up there; shards in order of first need.
    const byShard = new Map<number, number[]>();
    for (let j = 0; j < read.recs.length; j++) {
      const r = read.recs[j]!;
      for (let k = r.lo - LOOKUP_BELOW; k <= r.hi + LOOKUP_ABOVE; k++) {
        let list = byShard.get(k);
        if (!list) byShard.set(k, (list = []));
        list.push(j);
      }
    }
    const lists: number[][] = [];
    const ask: (number | string[])[] = [];
    for (const [k, list] of byShard) {
      lists.push(list);
      const names = new Array<string>(list.length);
      for (let x = 0; x < list.length; x++) names[x] = read.names[list[x]!]!;
      ask.push(k, names);
    }
    const reply = interpretReadStateReply(
      await callWindowCommand(this.redis, 'readState', [metaKey], [JSON.stringify(ask)], where), lists.map((l) => l.length), where);
    const found = reply.found;
    for (let i = 0; i < found.length; i += 3) {
      const p = found[i] as number;
      addStoredState(read.recs[lists[p]![found[i + 1] as number]!]!, ask[2 * p] as number, found[i + 2] as string, W);
    }
    return { o: reply.o, w: reply.w, s: reply.s };
  }

  /**
   * Registers the dimension values the cache did not know (first appearance order, each once) in the funnel's
   * registry, then fills their codes (at `fixAt` in the flat `codes`, nDims per event) from the updated cache.
   */
  private async registerDimValues(fc: FunnelCache, fixAt: readonly number[], fixValue: readonly string[], codes: number[],
    where: string): Promise<void> {
    const dims = fc.def.dimensions;
    const nDims = dims.length;
    const unknown: { d: number; value: string }[] = [];
    const asked = new Set<string>();
    for (let j = 0; j < fixAt.length; j++) {
      const d = fixAt[j]! % nDims;
      const k = `${d}\0${fixValue[j]!}`;
      if (!asked.has(k)) {
        asked.add(k);
        unknown.push({ d, value: fixValue[j]! });
      }
    }
    const argv: (string | number)[] = [this.funnelKeyTtl(fc.def)];
    for (const u of unknown) argv.push(dims[u.d]!.name, dims[u.d]!.maxValues, u.value);
    const reply = interpretRegisterReply(
      await callWindowCommand(this.redis, 'registerDimValues', [this.keys.dims(fc.def.name)], argv, where),
      unknown.length, where);
    reply.forEach((r, j) => {
      const u = unknown[j]!;
      const c = fc.dimCaches[u.d]!;
      if (r.code !== OTHER_CODE) c.codes.set(u.value, r.code);
      // Only "other" answers are cached as fullness: the set never shrinks, so full stays full for this cap.
      if (r.given >= dims[u.d]!.maxValues) c.fullAt = dims[u.d]!.maxValues;
    });
    for (let j = 0; j < fixAt.length; j++) {
      codes[fixAt[j]!] = fc.dimCaches[fixAt[j]! % nDims]!.codes.get(fixValue[j]!) ?? OTHER_CODE;
    }
  }

  /**
   * Adds the partition to the funnel's set (once per process, and hourly to refresh TTLs), THEN reads the funnel's
   * sealing horizon: returns the seal floor every batch of this partition passes to applyBatch. The order matters
   * (beginSeal-2.lua): a compaction that started before the SADD has a horizon this read sees; one that starts after
   * it finds the partition in the set and seals it itself. The floor is passed on every batch, not just the first,
   * because the first call may fail and sealing is a monotonic max anyway.
   */
  private async registerPartition(fc: FunnelCache, partition: string, now: number, where: string): Promise<number | undefined> {
    const stale = now - fc.lastTtlRefresh >= HOUR;
    if (fc.partitions.has(partition) && !stale) return fc.partitions.get(partition);
    const parts = this.keys.partitions(fc.def.name);
    const ttl = this.funnelKeyTtl(fc.def);
    let horizon: string | null;
    try {
      await this.redis.sadd(parts, partition);
      await this.redis.pexpire(parts, ttl);
      if (stale) await this.redis.pexpire(this.keys.dims(fc.def.name), ttl);
      horizon = await this.redis.hget(this.keys.compaction(fc.def.name), 's');
    } catch (err) {
      throw redisFailure(err, where);
    }
    const floor = horizon === null ? undefined : Number(horizon);
    fc.partitions.set(partition, floor);
    if (stale) fc.lastTtlRefresh = now;
    return floor;
  }

  async partitions(def: FunnelDef): Promise<string[]> {
    try {
      return (await this.redis.smembers(this.keys.partitions(def.name))).sort();
    } catch (err) {
      throw redisFailure(err, `funnel ${def.name}: partitions`);
    }
  }

  async getOffsets(def: FunnelDef, partitions: readonly string[]): Promise<Map<string, number | undefined>> {
    const out = new Map<string, number | undefined>();
    await Promise.all(partitions.map(async (p) => {
      let v: string | null;
      try {
        v = await this.redis.hget(this.keys.meta(def.name, p), 'o');
      } catch (err) {
        throw redisFailure(err, `funnel ${def.name} partition ${p}: offsets`);
      }
      out.set(p, v === null ? undefined : Number(v));
    }));
    return out;
  }

  async getWatermarks(def: FunnelDef): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const metas = await this.metas(def);
    for (const [p, m] of metas) if (m.w !== undefined) out.set(p, Number(m.w));
    return out;
  }

  async counters(def: FunnelDef): Promise<PartitionCounters> {
    const out: PartitionCounters = { lateDropped: 0, unmatched: 0, noEntity: 0, duplicates: 0, outOfOrder: 0, noEntry: 0, expired: 0,
      lateCohort: 0 };
    const n = (v: string | undefined) => (v === undefined ? 0 : Number(v));
    for (const m of (await this.metas(def)).values()) {
      out.lateDropped += n(m.late);
      out.unmatched += n(m.unm);
      out.noEntity += n(m.noent);
      out.duplicates += n(m.dup);
      out.outOfOrder += n(m.ooo);
      out.noEntry += n(m.noentry);
      out.expired += n(m.exp);
      out.lateCohort += n(m.latecoh);
    }
    return out;
  }

  private async metas(def: FunnelDef, known?: readonly string[]): Promise<Map<string, Record<string, string>>> {
    const parts = known ?? (await this.partitions(def));
    const out = new Map<string, Record<string, string>>();
    await Promise.all(parts.map(async (p) => {
      try {
        out.set(p, await this.redis.hgetall(this.keys.meta(def.name, p)));
      } catch (err) {
        throw redisFailure(err, `funnel ${def.name} partition ${p}: meta`);
      }
    }));
    return out;
  }

  /** Partitions, their metas and compactedUpTo, as one read plans against them. */
  private async view(def: FunnelDef): Promise<ReadView> {
    let parts: string[];
    let c: string | null;
    try {
      // Both funnel-level keys share the funnel's slot: one pipeline.
      const res = await this.redis.pipeline()
        .smembers(this.keys.partitions(def.name))
        .hget(this.keys.compaction(def.name), 'c')
        .exec();
      for (const [err] of res ?? []) if (err) throw err;
      parts = ((res?.[0]?.[1] as string[] | undefined) ?? []).sort();
      c = (res?.[1]?.[1] as string | null | undefined) ?? null;
    } catch (err) {
      throw redisFailure(err, `funnel ${def.name}: partitions`);
    }
    return { parts, metas: await this.metas(def, parts), compactedTo: c === null ? Number.NEGATIVE_INFINITY : Number(c) };
  }

  private async compactedTo(def: FunnelDef): Promise<number> {
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
  private async consistent<T>(def: FunnelDef, read: (v: ReadView) => Promise<T>): Promise<T> {
    this.funnel(def);
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
  private async readBuckets(def: FunnelDef, v: ReadView, buckets: readonly BucketRef[], groups: readonly string[],
    context: string): Promise<FieldCounts[][]> {
    const out = groups.map(() => buckets.map((): FieldCounts => new Map()));
    const history: number[] = [];
    const hot: number[] = [];
    buckets.forEach((b, i) => (b.res === 'r' || b.start + b.widthMs <= v.compactedTo ? history : hot).push(i));
    const run = async (keyOf: (b: BucketRef, g: string) => string, idx: number[], where: string) => {
      if (idx.length === 0) return;
      const pipe = this.redis.pipeline();
      for (const g of groups) for (const i of idx) pipe.hgetall(keyOf(buckets[i]!, g));
      let res: [Error | null, unknown][] | null;
      try {
        res = await pipe.exec();
      } catch (err) {
        throw redisFailure(err, `${context} (${where})`);
      }
      (res ?? []).forEach(([err, val], j) => {
        if (err) throw redisFailure(err, `${context} (${where})`);
        addHash(out[Math.floor(j / idx.length)]![idx[j % idx.length]!]!, val as Record<string, string>);
      });
    };
    await Promise.all([
      run((b, g) => this.keys.historyBucket(def.name, b.res, b.start, g), history, 'history'),
      ...v.parts.map((p) => run((b, g) => this.keys.bucket(def.name, p, 'f', b.start, g), hot, `partition ${p}`)),
    ]);
    return out;
  }

  /** Plans a window against the fine retention measured from the newest watermark, and against compaction. */
  private plan(q: WindowQuery, v: ReadView, preferFine = false): WindowPlan {
    const { funnel: def, from, to } = q;
    const wms: number[] = [];
    for (const m of v.metas.values()) if (m.w !== undefined) wms.push(Number(m.w));
    const fineFrom = wms.length > 0 ? Math.max(...wms) - def.retention.fineMs : Number.NEGATIVE_INFINITY;
    return splitAtCompacted(def, (preferFine ? planWindowPreferFine : planWindow)(def, from, to, fineFrom), v.compactedTo);
  }

  private planBuckets(plan: WindowPlan): BucketRef[] {
    return plan.ranges.flatMap((r) => r.starts.map((start) => ({ res: r.res, start, widthMs: r.widthMs })));
  }

  private async sumPlan(def: FunnelDef, v: ReadView, plan: WindowPlan, group: string, context: string): Promise<FieldCounts> {
    const [per] = await this.readBuckets(def, v, this.planBuckets(plan), [group], context);
    const total: FieldCounts = new Map();
    for (const m of per!) for (const [f, n] of m) total.set(f, (total.get(f) ?? 0) + n);
    return total;
  }

  async stepVolume(q: WindowQuery): Promise<VolumeSeries> {
    const def = q.funnel;
    const starts = fineStarts(def, q.from, q.to);
    const [per] = await this.consistent(def, (v) => this.readBuckets(def, v,
      starts.map((start) => ({ res: 'f', start, widthMs: def.bucketMs })), ['t'], `funnel ${def.name}: step volume`));
    return {
      from: starts[0] ?? q.from,
      to: starts.length > 0 ? starts[starts.length - 1]! + def.bucketMs : q.from,
      bucketMs: def.bucketMs,
      buckets: starts.map((start, i) => ({ start, steps: decodeTotals(per![i]!, def.steps.length).volume })),
    };
  }

  async stepTotals(q: WindowQuery): Promise<StepTotals> {
    const def = q.funnel;
    const { plan, fields } = await this.consistent(def, async (v) => {
      const plan = this.plan(q, v);
      return { plan, fields: await this.sumPlan(def, v, plan, 't', `funnel ${def.name}: totals`) };
    });
    const t = decodeTotals(fields, def.steps.length);
    return { from: plan.from, to: plan.to, volume: t.volume, duplicates: t.duplicates, outOfOrder: t.outOfOrder,
      noEntry: t.noEntry, expired: t.expired };
  }

  private dimIndex(def: FunnelDef, dimension: string): number {
    const i = def.dimensions.findIndex((d) => d.name === dimension);
    if (i < 0) {
      throw new FwError('WINDOW_UNKNOWN_DIMENSION',
        `funnel ${def.name} has no dimension "${dimension}" (it has: ${def.dimensions.map((d) => d.name).join(', ') || 'none'})`);
    }
    return i;
  }

  /** Code → value for one dimension, read from the registry. */
  private async names(def: FunnelDef, dimension: string): Promise<Map<number, string>> {
    let all: Record<string, string>;
    try {
      all = await this.redis.hgetall(this.keys.dims(def.name));
    } catch (err) {
      throw redisFailure(err, `funnel ${def.name}: dimension registry`);
    }
    const registered = new Map<string, number>();
    const prefix = `${dimension}\0`;
    for (const [f, v] of Object.entries(all)) if (f.startsWith(prefix)) registered.set(f.slice(prefix.length), Number(v));
    return codeNames(registered);
  }

  async dimensionVolume(q: WindowQuery & { dimension: string }): Promise<DimensionVolume> {
    const def = q.funnel;
    const i = this.dimIndex(def, q.dimension);
    const [{ plan, fields }, names] = await Promise.all([
      this.consistent(def, async (v) => {
        const plan = this.plan(q, v);
        return { plan, fields: await this.sumPlan(def, v, plan, `d${i}`, `funnel ${def.name}: dimension ${q.dimension}`) };
      }),
      this.names(def, q.dimension),
    ]);
    return { from: plan.from, to: plan.to, dimension: q.dimension, values: decodeDimension(fields, def.steps.length, names).volume };
  }

  async ratioConversion(q: WindowQuery & { fromStep: number; toStep: number; dimension?: string }): Promise<RatioConversion> {
    const def = q.funnel;
    this.checkStep(def, q.fromStep);
    this.checkStep(def, q.toStep);
    const totals = await this.stepTotals(q);
    const denominator = totals.volume[q.fromStep]!;
    const numerator = totals.volume[q.toStep]!;
    const out: RatioConversion = { from: totals.from, to: totals.to, fromStep: q.fromStep, toStep: q.toStep,
      denominator, numerator, ratio: ratio(numerator, denominator) };
    if (q.dimension !== undefined) {
      const dv = await this.dimensionVolume({ funnel: def, from: q.from, to: q.to, dimension: q.dimension });
      out.byValue = {};
      for (const [value, vol] of Object.entries(dv.values)) {
        const den = vol[q.fromStep]!;
        const num = vol[q.toStep]!;
        out.byValue[value] = { denominator: den, numerator: num, ratio: ratio(num, den) };
      }
    }
    return out;
  }

  async cohortConversion(q: WindowQuery & { asOf: number; dimension?: string }): Promise<CohortConversion> {
    const def = q.funnel;
    const nSteps = def.steps.length;
    const dimI = q.dimension === undefined ? undefined : this.dimIndex(def, q.dimension);
    const groups = dimI === undefined ? ['t'] : ['t', `d${dimI}`];
    const { plan, per } = await this.consistent(def, async (v) => {
      const plan = this.plan(q, v, true);
      return { plan, per: await this.readBuckets(def, v, this.planBuckets(plan), groups, `funnel ${def.name}: cohort`) };
    });
    const buckets = this.planBuckets(plan);
    const perBucket = per[0]!;
    const overall: CohortBucket[] = buckets.map((b, i) => ({ ...b, reached: decodeTotals(perBucket[i]!, nSteps).cohort }));
    const out: CohortConversion = { from: plan.from, to: plan.to, asOf: q.asOf,
      ...cohortCounts(overall, nSteps, def.conversionWindowMs, q.asOf) };
    if (q.dimension !== undefined) {
      const perDim = per[1]!;
      const names = await this.names(def, q.dimension);
      const byValueBuckets = new Map<string, CohortBucket[]>();
      buckets.forEach((b, j) => {
        for (const [value, reached] of Object.entries(decodeDimension(perDim[j]!, nSteps, names).cohort)) {
          const list = byValueBuckets.get(value) ?? [];
          list.push({ ...b, reached });
          byValueBuckets.set(value, list);
        }
      });
      const byValue: Record<string, CohortCounts> = {};
      for (const [value, list] of byValueBuckets) byValue[value] = cohortCounts(list, nSteps, def.conversionWindowMs, q.asOf);
      out.byValue = byValue;
    }
    return out;
  }

  async durations(q: WindowQuery & { step: number }): Promise<DurationStats> {
    const def = q.funnel;
    this.checkStep(def, q.step);
    const { plan, fields } = await this.consistent(def, async (v) => {
      const plan = this.plan(q, v);
      return { plan, fields: await this.sumPlan(def, v, plan, `h${q.step}`, `funnel ${def.name}: durations`) };
    });
    const h: DurationHistogram = new Map(fields);
    let count = 0;
    for (const n of h.values()) count += n;
    return {
      from: plan.from, to: plan.to, step: q.step, count,
      p50: histogramPercentile(h, 0.5), p90: histogramPercentile(h, 0.9),
      p95: histogramPercentile(h, 0.95), p99: histogramPercentile(h, 0.99),
      histogram: Object.fromEntries(h),
    };
  }

  async bucketCounts(q: WindowQuery & { resolution: 'fine' | 'rollup'; dimensions?: readonly string[]; durationSteps?: readonly number[] }): Promise<BucketSeries> {
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
    const [{ per, compactedTo }, names] = await Promise.all([
      this.consistent(def, async (v) => ({
        per: refs.length === 0 ? groups.map(() => []) : await this.readBuckets(def, v, refs, groups, `funnel ${def.name}: bucket counts`),
        compactedTo: v.compactedTo,
      })),
      Promise.all(dims.map((d) => this.names(def, d))),
    ]);
    const buckets = refs.map((b, j): BucketCounts => {
      const t = decodeTotals(per[0]![j]!, nSteps);
      const out: BucketCounts = { start: b.start, widthMs: width, volume: t.volume, cohort: t.cohort, dims: {}, durations: {} };
      dims.forEach((d, k) => {
        const dec = decodeDimension(per[1 + k]![j]!, nSteps, names[k]!);
        out.dims[d] = { volume: dec.volume, cohort: dec.cohort };
      });
      durSteps.filter((s) => s >= 1).forEach((s, k) => {
        out.durations[s] = Object.fromEntries(per[1 + dims.length + k]![j]!);
      });
      return out;
    });
    return { resolution: q.resolution, buckets, compactedTo };
  }

  /**
   * Seal, then compact (window-store.ts describes the life of a bucket):
   * 1. The funnel's event time G is the newest watermark of any partition; the wanted horizon is G minus the seal
   *    delay (key-layout.ts `sealHorizon`), so an idle partition never holds sealing back.
   * 2. beginSeal raises the funnel-level horizon and returns the partition set, atomically (slot {F}).
   * 3. sealPartition raises every listed partition's sealedUpTo to that horizon (slot {F:P}, atomic with its
   *    batches): after it, nothing below the horizon changes in any partition's hot keys.
   * 4. From compactedUpTo (or, the first time, the oldest hot bucket) up to the horizon, in chunks: read every
   *    partition's hot buckets, sum them, and hand the sums to compact-1.lua, which writes history and advances
   *    compactedUpTo only if its range starts exactly there. A refused chunk means another replica got there first:
   *    stop. After a chunk is in history its hot copies are deleted (readers re-check the marker; a delete that
   *    fails leaves them to their TTL).
   */
  async compact(def: FunnelDef, opts: CompactOptions = {}): Promise<CompactResult> {
    this.funnel(def);
    const where = `funnel ${def.name}: compact`;
    const maxBuckets = opts.maxBuckets ?? DEFAULT_COMPACT_MAX_BUCKETS;
    if (!(Number.isInteger(maxBuckets) && maxBuckets >= 1)) {
      throw new FwError('WINDOW_BAD_ARGUMENTS', `${where}: maxBuckets must be a positive integer, got ${maxBuckets}`);
    }
    const f = def.bucketMs;
    const wms = [...(await this.getWatermarks(def)).values()];
    if (wms.length === 0) return { compactedUpTo: undefined, buckets: 0, sealedUpTo: undefined };
    const eventTime = Math.max(...wms);
    const ttl = this.funnelKeyTtl(def);

    const begin = interpretBeginSealReply(await callWindowCommand(this.redis, 'beginSeal',
      [this.keys.compaction(def.name), this.keys.partitions(def.name)], [sealHorizon(def, eventTime), ttl], where), where);
    const horizon = begin.horizon;
    const seals = await Promise.all(begin.partitions.map(async (p) => interpretSealReply(
      await callWindowCommand(this.redis, 'sealPartition', [this.keys.meta(def.name, p)], [horizon, ttl], `${where} (seal partition ${p})`),
      `${where} (seal partition ${p})`)));

    let from: number;
    if (begin.compactedUpTo !== undefined) from = begin.compactedUpTo;
    else {
      // First compaction: start at the oldest hot bucket any partition wrote, but not below what the hot TTL kept.
      const firsts = seals.flatMap((x) => (x.firstBucket === undefined ? [] : [x.firstBucket]));
      if (firsts.length === 0) return { compactedUpTo: undefined, buckets: 0, sealedUpTo: horizon };
      from = Math.max(Math.min(...firsts), Math.floor((horizon - hotKeepMs(def)) / f) * f);
    }
    let done = 0;
    let compactedUpTo: number | undefined = begin.compactedUpTo;
    while (from < horizon && done < maxBuckets) {
      const n = Math.min(COMPACT_CHUNK, maxBuckets - done, Math.round((horizon - from) / f));
      const to: number = from + n * f;
      const sums = await this.readHot(def, begin.partitions, from, to, where);
      const argv: (string | number)[] = [from, to, f, def.retention.rollupBucketMs, def.retention.fineMs,
        def.retention.rollupMs, eventTime, ttl];
      for (const [k, fields] of sums) {
        if (fields.size === 0) continue;
        const [start, group] = k.split('\0') as [string, string];
        argv.push(start, group, fields.size);
        for (const [field, count] of fields) argv.push(field, count);
      }
      const reply = interpretCompactReply(
        await callWindowCommand(this.redis, 'compact', [this.keys.compaction(def.name)], argv, where), where);
      compactedUpTo = reply.compactedUpTo;
      if (reply.status === 'refused') break;
      await this.deleteHot(def, begin.partitions, from, to, where);
      done += n;
      from = to;
    }
    return { compactedUpTo, buckets: done, sealedUpTo: horizon };
  }

  /** Sums of every partition's hot fine buckets in [from, to), keyed `${startMs}\0${group}`. */
  private async readHot(def: FunnelDef, parts: readonly string[], from: number, to: number, where: string): Promise<Map<string, FieldCounts>> {
    const groups = bucketGroups(def);
    const slots: { start: number; group: string }[] = [];
    for (let start = from; start < to; start += def.bucketMs) for (const group of groups) slots.push({ start, group });
    const sums = new Map<string, FieldCounts>(slots.map((x) => [`${x.start}\0${x.group}`, new Map()]));
    await Promise.all(parts.map(async (p) => {
      const pipe = this.redis.pipeline();
      for (const x of slots) pipe.hgetall(this.keys.bucket(def.name, p, 'f', x.start, x.group));
      let res: [Error | null, unknown][] | null;
      try {
        res = await pipe.exec();
      } catch (err) {
        throw redisFailure(err, `${where} (read partition ${p})`);
      }
      (res ?? []).forEach(([err, val], j) => {
        if (err) throw redisFailure(err, `${where} (read partition ${p})`);
        const x = slots[j]!;
        addHash(sums.get(`${x.start}\0${x.group}`)!, val as Record<string, string>);
      });
    }));
    return sums;
  }

  /** Deletes compacted hot buckets, one multi-key UNLINK per partition (its keys share one slot). */
  private async deleteHot(def: FunnelDef, parts: readonly string[], from: number, to: number, where: string): Promise<void> {
    const groups = bucketGroups(def);
    await Promise.all(parts.map(async (p) => {
      const keys: string[] = [];
      for (let start = from; start < to; start += def.bucketMs) for (const g of groups) keys.push(this.keys.bucket(def.name, p, 'f', start, g));
      try {
        await this.redis.unlink(...keys);
      } catch (err) {
        throw redisFailure(err, `${where} (delete compacted hot buckets of partition ${p})`);
      }
    }));
  }

  private checkStep(def: FunnelDef, step: number): void {
    if (!Number.isInteger(step) || step < 0 || step >= def.steps.length) {
      throw new FwError('WINDOW_UNKNOWN_STEP', `funnel ${def.name} has steps 0..${def.steps.length - 1}, not ${step}`);
    }
  }
}
