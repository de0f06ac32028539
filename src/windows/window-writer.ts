/**
 * The write side of the Redis window store: match events in memory, give dimension values their codes, read the
 * partition's meta and the batch's entity states in one pipelined round trip, run the cohort/entity state machine
 * here (apply-plan.ts), then ONE Lua call per (funnel, partition, batch) writes all counter deltas, entity states,
 * watermark and the offset atomically (lua/applyBatch-1.lua), into the partition's HOT fine buckets, and only if
 * the offset and sealedUpTo are still those the batch was computed from (else: read and compute again).
 *
 * Why the partitions of a funnel are registered in a funnel-level set (`p:{F}:parts`) rather than passed in by the
 * caller: readers (evaluator, API, CLI) do not know which partitions or HTTP sources ever wrote, and a partition
 * count that grows must not hide old data. The set is written once per partition per process (cached), so it costs
 * nothing on the hot path. Registering also reads the funnel's sealing horizon, which the partition's batches pass
 * to Lua as its seal floor: a partition that appears while a compaction is running cannot write below it
 * (beginSeal-2.lua explains the ordering).
 *
 * Why dimension codes come from a funnel-level registry (`p:{F}:dims`) written by a separate small script before
 * the batch: the cap "first maxValues values get their own counter" must mean the same on every partition, or the
 * sum over partitions would mix a value's counter with `other`. The registry only grows and a code never changes,
 * so registering before the atomic apply is safe under replays and crashes; cached codes make the call rare.
 */
import type { FwEvent } from '../events/event.js';
import type { FunnelDef } from '../funnels/funnel.js';
import { compileStepMatcher, entityReader } from '../funnels/match.js';
import { FwError } from '../core/errors.js';
import {
  addStoredState,
  encodeCommit,
  LOOKUP_ABOVE,
  LOOKUP_BELOW,
  planBatch,
  planStateRead,
  type BatchEvents,
  type PlanParams,
  type StateReadPlan,
} from './apply-plan.js';
import { checkFunnelShape, funnelKeyTtl, hotKeepMs, type KeyLayout, MISSING_CODE, OTHER_CODE } from './key-layout.js';
import {
  callWindowCommand,
  interpretApplyReply,
  interpretReadStateReply,
  interpretRegisterReply,
  redisFailure,
  type RedisLike,
} from './lua-scripts.js';
import type { ApplyBatchInput, ApplyResult } from './window-store.js';

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

/** applyBatch reads and computes again at most this many times when its commit finds the partition changed. */
const APPLY_ATTEMPTS = 8;

export class RedisWindowWriter {
  private readonly funnels = new Map<string, FunnelCache>();
  /** (funnel, partition) → when this process last committed a batch there (its meta exists since, unless lost). */
  private readonly wrote = new Map<string, number>();

  /**
   * `redis` must have the window commands defined (lua-scripts.ts `defineWindowCommands`). `onStateLost` hears of
   * a partition found without the meta this process wrote (Redis lost its data; the caches were dropped).
   */
  constructor(
    private readonly redis: RedisLike,
    private readonly keys: KeyLayout,
    private readonly onStateLost?: (what: string, detail: string) => void,
  ) {}

  /**
   * Forgets the registered partitions and dimension codes (Redis lost its data): the next batches register them
   * again. Kept, they would hide new data from readers (a partition missing from the funnel's set) or mix values
   * (codes the new registry gives to other values).
   */
  invalidate(): void {
    this.funnels.clear();
    this.wrote.clear();
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
    c = {
      def,
      stepOf: compileStepMatcher(def),
      readEntity: entityReader(def.entityField),
      dimNames: def.dimensions.map((d) => d.name),
      dimCaches,
      dims,
      partitions: c?.partitions ?? new Map(),
      lastTtlRefresh: c?.lastTtlRefresh ?? Number.NEGATIVE_INFINITY,
      planParams: {
        bucketMs: def.bucketMs,
        hotKeepMs: hotKeepMs(def),
        conversionWindowMs: def.conversionWindowMs,
        allowedLatenessMs: def.allowedLatenessMs,
        nDims: def.dimensions.length,
      },
    };
    this.funnels.set(def.name, c);
    return c;
  }

  /**
   * Optimistic concurrency (apply-plan.ts, lua/applyBatch-1.lua): read the partition's meta and the stored states
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
      if (step < 0) {
        unmatched++;
        continue;
      }
      const entity = wellFormed(readEntity(ev));
      if (entity === '') {
        noEntity++;
        continue;
      }
      if (!Number.isFinite(ev.ts)) {
        throw new FwError('WINDOW_BAD_EVENT', `${where}: event ${ev.id} has no valid ts (${String(ev.ts)})`);
      }
      steps.push(step);
      ts.push(Math.floor(ev.ts));
      entities.push(entity);
      for (let d = 0; d < nDims; d++) {
        const v = ev.attrs[dimNames[d]!];
        if (v === undefined || v === '') {
          codes.push(MISSING_CODE);
          continue;
        }
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

    const wroteKey = `${def.name}\0${partition}`;
    for (let attempt = 1; ; attempt++) {
      const read = planStateRead(batch, W);
      const meta = await this.readState(metaKey, read, W, where);
      const wroteAt = this.wrote.get(wroteKey);
      if (meta.o === null && wroteAt !== undefined && now - wroteAt < funnelKeyTtl(def)) {
        // This process committed here and the meta (which lives as long as the funnel's keys) is gone: Redis lost
        // its data. The codes of this batch came from caches that are void now: start over without them.
        this.invalidate();
        this.onStateLost?.('window_partition', `${where}: the partition's meta is gone`);
        return this.applyBatch(input);
      }
      // A redelivered batch must leave no trace, not even in the value registry (the cap order would change).
      if (meta.o !== null && Number(meta.o) >= firstOffset)
        return { status: 'duplicate', storedOffset: Number(meta.o) };
      if (fixAt) {
        await this.registerDimValues(fc, fixAt, fixValue!, codes, where);
        fixAt = undefined;
      }
      // A partition without meta is new to Redis (or Redis lost it): register it whatever the cache says. The
      // cache may be one a concurrent loss has just voided (invalidate() during this call keeps `fc` alive), and a
      // partition missing from the funnel's set is invisible to readers: no watermark, no evaluation.
      const sealFloor = await this.registerPartition(fc, partition, now, where, meta.o === null);
      const stored = meta.s === null ? undefined : Number(meta.s);
      const sealed = sealFloor !== undefined && (stored === undefined || sealFloor > stored) ? sealFloor : stored;
      const plan = planBatch(fc.planParams, meta.w === null ? undefined : Number(meta.w), sealed, batch, read);
      const argv = encodeCommit(
        {
          firstOffset,
          lastOffset,
          readOffset: meta.o ?? '',
          readSealed: meta.s ?? '',
          sealFloor,
          conversionWindowMs: W,
          allowedLatenessMs: def.allowedLatenessMs,
          bucketMs: def.bucketMs,
          hotKeepMs: fc.planParams.hotKeepMs,
          shardTtlMs: 4 * W + def.allowedLatenessMs + DAY,
          metaTtlMs: funnelKeyTtl(def),
          unmatched,
          noEntity,
        },
        plan,
        read,
      );
      const reply = interpretApplyReply(
        await callWindowCommand(this.redis, 'applyBatch', [metaKey], [JSON.stringify(argv)], where),
        where,
      );
      if (reply.status === 'duplicate') return reply;
      if (reply.status === 'applied') {
        this.wrote.set(wroteKey, now);
        const c = plan.counts;
        return {
          status: 'applied',
          storedOffset: lastOffset,
          watermark: plan.watermark,
          counts: {
            events: events.length,
            unmatched,
            noEntity,
            matched: batch.n,
            lateDropped: c.late,
            entries: c.entries,
            steps: c.steps,
            duplicates: c.duplicates,
            outOfOrder: c.outOfOrder,
            noEntry: c.noEntry,
            expired: c.expired,
            lateCohort: c.lateCohort,
          },
        };
      }
      if (attempt >= APPLY_ATTEMPTS) {
        throw new FwError(
          'WINDOW_APPLY_CONFLICT',
          `${where}: the partition's state kept changing between read and ` +
            `commit (${attempt} attempts; stored offset now ${reply.storedOffset || 'none'}); ` +
            `is another writer applying ` +
            'this partition?',
        );
      }
    }
  }

  /**
   * One call in the partition's slot (lua/readState-1.lua): the meta's offset, watermark and sealedUpTo, and the
   * stored state of each of the batch's entities in every shard its events may look up, added to `read.recs`.
   */
  private async readState(
    metaKey: string,
    read: StateReadPlan,
    W: number,
    where: string,
  ): Promise<{ o: string | null; w: string | null; s: string | null }> {
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
      await callWindowCommand(this.redis, 'readState', [metaKey], [JSON.stringify(ask)], where),
      lists.map((l) => l.length),
      where,
    );
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
  private async registerDimValues(
    fc: FunnelCache,
    fixAt: readonly number[],
    fixValue: readonly string[],
    codes: number[],
    where: string,
  ): Promise<void> {
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
    const argv: (string | number)[] = [funnelKeyTtl(fc.def)];
    for (const u of unknown) argv.push(dims[u.d]!.name, dims[u.d]!.maxValues, u.value);
    const reply = interpretRegisterReply(
      await callWindowCommand(this.redis, 'registerDimValues', [this.keys.dims(fc.def.name)], argv, where),
      unknown.length,
      where,
    );
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
  private async registerPartition(
    fc: FunnelCache,
    partition: string,
    now: number,
    where: string,
    force = false,
  ): Promise<number | undefined> {
    const stale = now - fc.lastTtlRefresh >= HOUR;
    if (fc.partitions.has(partition) && !stale && !force) return fc.partitions.get(partition);
    const parts = this.keys.partitions(fc.def.name);
    const ttl = funnelKeyTtl(fc.def);
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
}
