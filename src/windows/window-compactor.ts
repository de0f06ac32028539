/**
 * Compaction of the Redis window store: seals buckets the funnel's event time has left behind and moves them,
 * summed over partitions, into funnel-level HISTORY (fine + rollups), exactly once (window-store.ts describes the
 * life of a bucket; beginSeal-2.lua and compact-1.lua the ordering).
 */
import type { FunnelDef } from '../funnels/funnel.js';
import { FwError } from '../core/errors.js';
import { addHash, type FieldCounts } from './aggregate.js';
import { bucketGroups, checkFunnelShape, funnelKeyTtl, hotKeepMs, type KeyLayout, sealHorizon } from './key-layout.js';
import {
  callWindowCommand,
  interpretBeginSealReply,
  interpretCompactReply,
  interpretSealReply,
  redisFailure,
  type RedisLike,
} from './lua-scripts.js';
import type { CompactOptions, CompactResult } from './window-store.js';

/** Fine buckets per compact Lua call: keeps one call's arguments in the tens of thousands at most. */
const COMPACT_CHUNK = 30;
const DEFAULT_COMPACT_MAX_BUCKETS = 1440;

export class RedisWindowCompactor {
  /**
   * `redis` must have the window commands defined (lua-scripts.ts `defineWindowCommands`); `watermarks` gives each
   * partition's newest event time (the reader's getWatermarks).
   */
  constructor(
    private readonly redis: RedisLike,
    private readonly keys: KeyLayout,
    private readonly watermarks: (def: FunnelDef) => Promise<Map<string, number>>,
  ) {}

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
    checkFunnelShape(def);
    const where = `funnel ${def.name}: compact`;
    const maxBuckets = opts.maxBuckets ?? DEFAULT_COMPACT_MAX_BUCKETS;
    if (!(Number.isInteger(maxBuckets) && maxBuckets >= 1)) {
      throw new FwError('WINDOW_BAD_ARGUMENTS', `${where}: maxBuckets must be a positive integer, got ${maxBuckets}`);
    }
    const f = def.bucketMs;
    const wms = [...(await this.watermarks(def)).values()];
    if (wms.length === 0) return { compactedUpTo: undefined, buckets: 0, sealedUpTo: undefined };
    const eventTime = Math.max(...wms);
    const ttl = funnelKeyTtl(def);

    const begin = interpretBeginSealReply(
      await callWindowCommand(
        this.redis,
        'beginSeal',
        [this.keys.compaction(def.name), this.keys.partitions(def.name)],
        [sealHorizon(def, eventTime), ttl],
        where,
      ),
      where,
    );
    const horizon = begin.horizon;
    const seals = await Promise.all(
      begin.partitions.map(async (p) =>
        interpretSealReply(
          await callWindowCommand(
            this.redis,
            'sealPartition',
            [this.keys.meta(def.name, p)],
            [horizon, ttl],
            `${where} (seal partition ${p})`,
          ),
          `${where} (seal partition ${p})`,
        ),
      ),
    );

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
      const argv: (string | number)[] = [
        from,
        to,
        f,
        def.retention.rollupBucketMs,
        def.retention.fineMs,
        def.retention.rollupMs,
        eventTime,
        ttl,
      ];
      for (const [k, fields] of sums) {
        if (fields.size === 0) continue;
        const [start, group] = k.split('\0') as [string, string];
        argv.push(start, group, fields.size);
        for (const [field, count] of fields) argv.push(field, count);
      }
      const reply = interpretCompactReply(
        await callWindowCommand(this.redis, 'compact', [this.keys.compaction(def.name)], argv, where),
        where,
      );
      compactedUpTo = reply.compactedUpTo;
      if (reply.status === 'refused') break;
      await this.deleteHot(def, begin.partitions, from, to, where);
      done += n;
      from = to;
    }
    return { compactedUpTo, buckets: done, sealedUpTo: horizon };
  }

  /** Sums of every partition's hot fine buckets in [from, to), keyed `${startMs}\0${group}`. */
  private async readHot(
    def: FunnelDef,
    parts: readonly string[],
    from: number,
    to: number,
    where: string,
  ): Promise<Map<string, FieldCounts>> {
    const groups = bucketGroups(def);
    const slots: { start: number; group: string }[] = [];
    for (let start = from; start < to; start += def.bucketMs) for (const group of groups) slots.push({ start, group });
    const sums = new Map<string, FieldCounts>(slots.map((x) => [`${x.start}\0${x.group}`, new Map()]));
    await Promise.all(
      parts.map(async (p) => {
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
      }),
    );
    return sums;
  }

  /** Deletes compacted hot buckets, one multi-key UNLINK per partition (its keys share one slot). */
  private async deleteHot(
    def: FunnelDef,
    parts: readonly string[],
    from: number,
    to: number,
    where: string,
  ): Promise<void> {
    const groups = bucketGroups(def);
    await Promise.all(
      parts.map(async (p) => {
        const keys: string[] = [];
        for (let start = from; start < to; start += def.bucketMs)
          for (const g of groups) keys.push(this.keys.bucket(def.name, p, 'f', start, g));
        try {
          await this.redis.unlink(...keys);
        } catch (err) {
          throw redisFailure(err, `${where} (delete compacted hot buckets of partition ${p})`);
        }
      }),
    );
  }
}
