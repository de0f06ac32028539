/**
 * WindowStore on Redis (standalone or Cluster). Writes: match events in memory, give dimension values their codes,
 * then ONE Lua call per (funnel, partition, batch) applies all counters, entity states, watermark and the offset
 * atomically (lua/applyBatch-1.lua). Reads: HGETALL of the buckets a window needs, pipelined per partition (each
 * partition's keys share one hash tag, i.e. one slot, which is what a Cluster pipeline needs), summed in memory.
 *
 * Why the partitions of a funnel are registered in a funnel-level set (`p:{F}:parts`) rather than passed in by the
 * caller: readers (evaluator, API, CLI) do not know which partitions or HTTP sources ever wrote, and a partition
 * count that grows must not hide old data. The set is written once per partition per process (cached), so it costs
 * nothing on the hot path.
 *
 * Why dimension codes come from a funnel-level registry (`p:{F}:dims`) written by a separate small script before the
 * batch: the cap "first maxValues values get their own counter" must mean the same on every partition, or the sum
 * over partitions would mix a value's counter with `other`. The registry only grows and a code never changes, so
 * registering before the atomic apply is safe under replays and crashes; cached codes make the call rare.
 */
import type { FunnelDef } from '../funnels/funnel.js';
import { compileMatcher, type EventMatcher, type MatchedEvent } from '../funnels/match.js';
import { FwError } from '../errors.js';
import {
  addHash, codeNames, cohortCounts, decodeDimension, decodeTotals, ratio,
  type CohortBucket, type FieldCounts,
} from './aggregate.js';
import { DURATION_LN_GAMMA, histogramPercentile, type DurationHistogram } from './histogram.js';
import {
  checkFunnelShape, fineStarts, KeyLayout, MISSING_CODE, OTHER_CODE, planWindow, planWindowPreferFine,
  type WindowPlan,
} from './key-layout.js';
import {
  callWindowCommand, defineWindowCommands, interpretApplyReply, interpretRegisterReply, redisFailure,
  type RedisLike,
} from './lua-scripts.js';
import type {
  ApplyBatchInput, ApplyResult, CohortConversion, CohortCounts, DimensionVolume, DurationStats, PartitionCounters,
  RatioConversion, StepTotals, VolumeSeries, WindowQuery, WindowStore,
} from './window-store.js';

export interface RedisWindowStoreOptions {
  redis: RedisLike;
  /** Key prefix; default 'fw'. */
  prefix?: string;
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
  matcher: EventMatcher;
  dims: Map<string, DimCache>;
  partitions: Set<string>;
  lastTtlRefresh: number;
}

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
    c = { def, matcher: compileMatcher(def), dims: c?.dims ?? new Map(), partitions: c?.partitions ?? new Set(),
      lastTtlRefresh: c?.lastTtlRefresh ?? Number.NEGATIVE_INFINITY };
    this.funnels.set(def.name, c);
    return c;
  }

  /** Funnel-level keys outlive every bucket they describe. */
  private funnelKeyTtl(def: FunnelDef): number {
    return def.retention.rollupMs + def.retention.rollupBucketMs + DAY;
  }

  async applyBatch(input: ApplyBatchInput): Promise<ApplyResult> {
    const { funnel: def, partition, firstOffset, lastOffset, events, now } = input;
    const where = `funnel ${def.name} partition ${partition} offsets ${firstOffset}..${lastOffset}`;
    if (!Number.isSafeInteger(firstOffset) || !Number.isSafeInteger(lastOffset) || firstOffset > lastOffset) {
      throw new FwError('WINDOW_BAD_BATCH', `${where}: offsets must be integers with firstOffset <= lastOffset`, false);
    }
    const fc = this.funnel(def);
    const metaKey = this.keys.meta(def.name, partition);

    let unmatched = 0;
    let noEntity = 0;
    const matched: MatchedEvent[] = [];
    for (const ev of events) {
      const m = fc.matcher(ev);
      if (!m) unmatched++;
      else if (m.entity === '') noEntity++;
      else if (!Number.isFinite(m.ts)) {
        throw new FwError('WINDOW_BAD_EVENT', `${where}: event ${ev.id} has no valid ts (${String(m.ts)})`, false);
      } else matched.push(m);
    }

    const codes = await this.dimensionCodes(fc, matched, where, async () => {
      // A redelivered batch must leave no trace, not even in the value registry (the cap order would change),
      // so before registering new values check the fence the Lua call applies anyway. Only a stale owner racing
      // between this read and the apply can still register values of a batch that is then refused.
      let stored: string | null;
      try {
        stored = await this.redis.hget(metaKey, 'o');
      } catch (err) {
        throw redisFailure(err, where);
      }
      return stored !== null && Number(stored) >= firstOffset ? Number(stored) : undefined;
    });
    if (typeof codes === 'number') return { status: 'duplicate', storedOffset: codes };
    await this.registerPartition(fc, partition, now, where);

    const nDims = def.dimensions.length;
    const W = def.conversionWindowMs;
    const L = def.allowedLatenessMs;
    const argv: (string | number)[] = [
      firstOffset, lastOffset, def.bucketMs, def.retention.rollupBucketMs, def.retention.fineMs, def.retention.rollupMs,
      W, L, DURATION_LN_GAMMA, nDims, 4 * W + L + DAY, unmatched, noEntity, this.funnelKeyTtl(def),
    ];
    matched.forEach((m, i) => {
      argv.push(m.step, Math.floor(m.ts), m.entity);
      for (let d = 0; d < nDims; d++) argv.push(codes[i * nDims + d]!);
    });
    const reply = interpretApplyReply(await callWindowCommand(this.redis, 'applyBatch', [metaKey], argv, where), where);
    if (reply.status === 'duplicate') return reply;
    return {
      status: 'applied',
      storedOffset: lastOffset,
      watermark: reply.watermark,
      counts: {
        events: events.length, unmatched, noEntity, matched: matched.length, lateDropped: reply.late,
        entries: reply.entries, steps: reply.steps, duplicates: reply.duplicates, outOfOrder: reply.outOfOrder,
        noEntry: reply.noEntry, expired: reply.expired,
      },
    };
  }

  /**
   * Codes of every matched event's dimension values, flat (event-major); registers values not seen before, unless
   * `refusedAt` (asked only then) says the batch will be refused, in which case that stored offset is returned.
   */
  private async dimensionCodes(fc: FunnelCache, matched: readonly MatchedEvent[], where: string,
    refusedAt: () => Promise<number | undefined>): Promise<number[] | number> {
    const dims = fc.def.dimensions;
    const caches = dims.map((d) => {
      let c = fc.dims.get(d.name);
      if (!c) fc.dims.set(d.name, (c = { codes: new Map(), fullAt: undefined }));
      return c;
    });
    const unknown: { d: number; value: string }[] = [];
    const asked = new Set<string>();
    for (const m of matched) {
      dims.forEach((d, i) => {
        const v = m.dims[i];
        if (v === undefined || v === '') return;
        const c = caches[i]!;
        if (c.codes.has(v) || c.fullAt === d.maxValues) return;
        const k = `${i}\0${v}`;
        if (!asked.has(k)) {
          asked.add(k);
          unknown.push({ d: i, value: v });
        }
      });
    }
    if (unknown.length > 0) {
      const stored = await refusedAt();
      if (stored !== undefined) return stored;
      const argv: (string | number)[] = [this.funnelKeyTtl(fc.def)];
      for (const u of unknown) argv.push(dims[u.d]!.name, dims[u.d]!.maxValues, u.value);
      const reply = interpretRegisterReply(
        await callWindowCommand(this.redis, 'registerDimValues', [this.keys.dims(fc.def.name)], argv, where),
        unknown.length, where);
      reply.forEach((r, j) => {
        const u = unknown[j]!;
        const c = caches[u.d]!;
        if (r.code !== OTHER_CODE) c.codes.set(u.value, r.code);
        // Only "other" answers are cached as fullness: the set never shrinks, so full stays full for this cap.
        if (r.given >= dims[u.d]!.maxValues) c.fullAt = dims[u.d]!.maxValues;
      });
    }
    const out: number[] = [];
    for (const m of matched) {
      dims.forEach((_, i) => {
        const v = m.dims[i];
        out.push(v === undefined || v === '' ? MISSING_CODE : caches[i]!.codes.get(v) ?? OTHER_CODE);
      });
    }
    return out;
  }

  private async registerPartition(fc: FunnelCache, partition: string, now: number, where: string): Promise<void> {
    const stale = now - fc.lastTtlRefresh >= HOUR;
    if (fc.partitions.has(partition) && !stale) return;
    const parts = this.keys.partitions(fc.def.name);
    const ttl = this.funnelKeyTtl(fc.def);
    try {
      await this.redis.sadd(parts, partition);
      await this.redis.pexpire(parts, ttl);
      if (stale) await this.redis.pexpire(this.keys.dims(fc.def.name), ttl);
    } catch (err) {
      throw redisFailure(err, where);
    }
    fc.partitions.add(partition);
    if (stale) fc.lastTtlRefresh = now;
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
    const out: PartitionCounters = { lateDropped: 0, unmatched: 0, noEntity: 0, duplicates: 0, outOfOrder: 0, noEntry: 0, expired: 0 };
    const n = (v: string | undefined) => (v === undefined ? 0 : Number(v));
    for (const m of (await this.metas(def)).values()) {
      out.lateDropped += n(m.late);
      out.unmatched += n(m.unm);
      out.noEntity += n(m.noent);
      out.duplicates += n(m.dup);
      out.outOfOrder += n(m.ooo);
      out.noEntry += n(m.noentry);
      out.expired += n(m.exp);
    }
    return out;
  }

  private async metas(def: FunnelDef): Promise<Map<string, Record<string, string>>> {
    const parts = await this.partitions(def);
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

  /**
   * HGETALL of `keyOf(partition)` for every partition, pipelined per partition (one slot each), summed per index.
   */
  private async sumHashes(def: FunnelDef, keyOf: (partition: string) => string[], context: string): Promise<FieldCounts[]> {
    const parts = await this.partitions(def);
    let sums: FieldCounts[] | undefined;
    await Promise.all(parts.map(async (p) => {
      const keys = keyOf(p);
      sums ??= keys.map(() => new Map());
      if (keys.length === 0) return;
      const pipe = this.redis.pipeline();
      for (const k of keys) pipe.hgetall(k);
      let res: [Error | null, unknown][] | null;
      try {
        res = await pipe.exec();
      } catch (err) {
        throw redisFailure(err, `${context} (partition ${p})`);
      }
      (res ?? []).forEach(([err, val], i) => {
        if (err) throw redisFailure(err, `${context} (partition ${p})`);
        addHash(sums![i]!, val as Record<string, string>);
      });
    }));
    return sums ?? keyOf('_').map(() => new Map());
  }

  /** Plans a window against the fine retention measured from the newest watermark. */
  private async plan(q: WindowQuery, preferFine = false): Promise<WindowPlan> {
    const { funnel: def, from, to } = q;
    this.funnel(def);
    const wms = [...(await this.getWatermarks(def)).values()];
    const fineFrom = wms.length > 0 ? Math.max(...wms) - def.retention.fineMs : Number.NEGATIVE_INFINITY;
    return (preferFine ? planWindowPreferFine : planWindow)(def, from, to, fineFrom);
  }

  /** Bucket keys of a plan for one group, in plan order. */
  private planKeys(def: FunnelDef, partition: string, plan: WindowPlan, group: string): string[] {
    const keys: string[] = [];
    for (const r of plan.ranges) for (const s of r.starts) keys.push(this.keys.bucket(def.name, partition, r.res, s, group));
    return keys;
  }

  private planBuckets(plan: WindowPlan): { start: number; widthMs: number }[] {
    return plan.ranges.flatMap((r) => r.starts.map((start) => ({ start, widthMs: r.widthMs })));
  }

  private async sumPlan(def: FunnelDef, plan: WindowPlan, group: string, context: string): Promise<FieldCounts> {
    const per = await this.sumHashes(def, (p) => this.planKeys(def, p, plan, group), context);
    const total: FieldCounts = new Map();
    for (const m of per) for (const [f, n] of m) total.set(f, (total.get(f) ?? 0) + n);
    return total;
  }

  async stepVolume(q: WindowQuery): Promise<VolumeSeries> {
    const def = q.funnel;
    this.funnel(def);
    const starts = fineStarts(def, q.from, q.to);
    const per = await this.sumHashes(def, (p) => starts.map((s) => this.keys.bucket(def.name, p, 'f', s, 't')),
      `funnel ${def.name}: step volume`);
    return {
      from: starts[0] ?? q.from,
      to: starts.length > 0 ? starts[starts.length - 1]! + def.bucketMs : q.from,
      bucketMs: def.bucketMs,
      buckets: starts.map((start, i) => ({ start, steps: decodeTotals(per[i]!, def.steps.length).volume })),
    };
  }

  async stepTotals(q: WindowQuery): Promise<StepTotals> {
    const def = q.funnel;
    const plan = await this.plan(q);
    const t = decodeTotals(await this.sumPlan(def, plan, 't', `funnel ${def.name}: totals`), def.steps.length);
    return { from: plan.from, to: plan.to, volume: t.volume, duplicates: t.duplicates, outOfOrder: t.outOfOrder,
      noEntry: t.noEntry, expired: t.expired };
  }

  private dimIndex(def: FunnelDef, dimension: string): number {
    const i = def.dimensions.findIndex((d) => d.name === dimension);
    if (i < 0) {
      throw new FwError('WINDOW_UNKNOWN_DIMENSION',
        `funnel ${def.name} has no dimension "${dimension}" (it has: ${def.dimensions.map((d) => d.name).join(', ') || 'none'})`, false);
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
    const plan = await this.plan(q);
    const [fields, names] = await Promise.all([
      this.sumPlan(def, plan, `d${i}`, `funnel ${def.name}: dimension ${q.dimension}`),
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
    const plan = await this.plan(q, true);
    const buckets = this.planBuckets(plan);
    const perBucket = await this.sumHashes(def, (p) => this.planKeys(def, p, plan, 't'), `funnel ${def.name}: cohort`);
    const overall: CohortBucket[] = buckets.map((b, i) => ({ ...b, reached: decodeTotals(perBucket[i]!, nSteps).cohort }));
    const out: CohortConversion = { from: plan.from, to: plan.to, asOf: q.asOf,
      ...cohortCounts(overall, nSteps, def.conversionWindowMs, q.asOf) };
    if (q.dimension !== undefined) {
      const i = this.dimIndex(def, q.dimension);
      const [perDim, names] = await Promise.all([
        this.sumHashes(def, (p) => this.planKeys(def, p, plan, `d${i}`), `funnel ${def.name}: cohort by ${q.dimension}`),
        this.names(def, q.dimension),
      ]);
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
    const plan = await this.plan(q);
    const fields = await this.sumPlan(def, plan, `h${q.step}`, `funnel ${def.name}: durations`);
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

  private checkStep(def: FunnelDef, step: number): void {
    if (!Number.isInteger(step) || step < 0 || step >= def.steps.length) {
      throw new FwError('WINDOW_UNKNOWN_STEP', `funnel ${def.name} has steps 0..${def.steps.length - 1}, not ${step}`, false);
    }
  }
}
