/**
 * WindowStore on Redis (standalone or Cluster): the writer (window-writer.ts: apply batches, register dimension
 * values and partitions), the reader (window-reader.ts: the bucket reads the evaluator, ingest and the demo use) and
 * the compactor (window-compactor.ts: seal, then move sealed buckets into funnel-level history), sharing one key
 * layout (key-layout.ts) and the window commands (lua-scripts.ts). Callers that need all three (the daemon, replay,
 * ingest) hold this one object.
 */
import type { FunnelDef } from '../funnels/funnel.js';
import { KeyLayout } from './key-layout.js';
import { defineWindowCommands, type RedisLike } from './lua-scripts.js';
import { RedisWindowCompactor } from './window-compactor.js';
import { RedisWindowReader } from './window-reader.js';
import type {
  ApplyBatchInput,
  ApplyResult,
  BucketSeries,
  CompactOptions,
  CompactResult,
  StepTotals,
  WindowQuery,
  WindowStore,
} from './window-store.js';
import { RedisWindowWriter } from './window-writer.js';

export interface RedisWindowStoreOptions {
  redis: RedisLike;
  /** Key prefix; default 'fw'. */
  prefix?: string;
  /** Hears of Redis state loss the writer met (redis/state-loss.ts); its caches are dropped already. */
  onStateLost?: (what: string, detail: string) => void;
}

export class RedisWindowStore implements WindowStore {
  readonly writer: RedisWindowWriter;
  readonly reader: RedisWindowReader;
  readonly compactor: RedisWindowCompactor;

  constructor(opts: RedisWindowStoreOptions) {
    const keys = new KeyLayout(opts.prefix ?? 'fw');
    defineWindowCommands(opts.redis);
    this.writer = new RedisWindowWriter(opts.redis, keys, opts.onStateLost);
    this.reader = new RedisWindowReader(opts.redis, keys);
    this.compactor = new RedisWindowCompactor(opts.redis, keys, (def) => this.reader.getWatermarks(def));
  }

  applyBatch(input: ApplyBatchInput): Promise<ApplyResult> {
    return this.writer.applyBatch(input);
  }

  getOffsets(def: FunnelDef, partitions: readonly string[]): Promise<Map<string, number | undefined>> {
    return this.reader.getOffsets(def, partitions);
  }

  getWatermarks(def: FunnelDef): Promise<Map<string, number>> {
    return this.reader.getWatermarks(def);
  }

  partitions(def: FunnelDef): Promise<string[]> {
    return this.reader.partitions(def);
  }

  stepTotals(q: WindowQuery): Promise<StepTotals> {
    return this.reader.stepTotals(q);
  }

  bucketCounts(
    q: WindowQuery & {
      resolution: 'fine' | 'rollup';
      dimensions?: readonly string[];
      values?: Readonly<Record<string, readonly string[]>>;
      durationSteps?: readonly number[];
    },
  ): Promise<BucketSeries> {
    return this.reader.bucketCounts(q);
  }

  compact(def: FunnelDef, opts?: CompactOptions): Promise<CompactResult> {
    return this.compactor.compact(def, opts);
  }
}
