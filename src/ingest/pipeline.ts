/**
 * The ingest pipeline for one batch of one partition: parse and validate every message, send the rejects to the
 * dead-letter sink, then apply the good events to each funnel's windows with the store's exactly-once apply (one
 * call per funnel and partition). The handler resolves only when all of that is durable; the source commits then.
 * The decisions (which funnel wants what, which part of the batch is new) are pure functions in batch-plan.ts.
 *
 * Exactly-once: the store keeps, per (funnel, partition), the last offset applied, in the same Lua call as the
 * counts. Messages at or below it are skipped here; should this replica's view be stale (another replica applied
 * after a rebalance), the store refuses the batch as a duplicate and we refilter from the offset it reports.
 */
import type { Clock } from '../core/clock.js';
import type { ParseOptions } from '../events/parse.js';
import type { FunnelDef } from '../funnels/funnel.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { DeadLetter, DeadLetterSink } from './dead-letter.js';
import type { BatchHandler, SourceBatch } from './event-source.js';
import type { ApplyCounts, WindowStore } from '../windows/window-store.js';
import { FwError } from '../core/errors.js';
import type { OffsetRegressions } from './offset-regressions.js';
import type { UnmatchedFilters } from './unmatched.js';
import {
  applyRange,
  classifyMessages,
  funnelBit,
  funnelEvents,
  funnelMasks,
  type ClassifiedBatch,
} from './batch-plan.js';

/** What ingest needs from the window store. */
export type ApplyPort = Pick<WindowStore, 'applyBatch' | 'getOffsets'>;

export interface PipelineDeps {
  /** The funnels currently defined (hot-reloaded rule set). */
  funnels: () => readonly FunnelDef[];
  store: ApplyPort;
  deadLetters: DeadLetterSink;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  parse: Omit<ParseOptions, 'now'>;
  /** Kafka partitions whose offsets went backwards; absent: not checked (replay). */
  regressions?: OffsetRegressions;
  /** Called after events of `funnel` were applied (feed liveness). */
  onApplied?: (funnel: string, now: number) => void;
  /** Counts the events each filtered step turns away, and events of unused types (unmatched.ts). */
  unmatched?: UnmatchedFilters;
}

/** Window outcome counters of one apply, by the `outcome` label of fw_window_outcomes_total. */
const OUTCOMES = [
  ['entry', 'entries'],
  ['step', 'steps'],
  ['duplicate', 'duplicates'],
  ['out_of_order', 'outOfOrder'],
  ['no_entry', 'noEntry'],
  ['expired', 'expired'],
  ['late_cohort', 'lateCohort'],
  // Events of a step's type that its `where` turned away, and matched events without an entity: not applied.
  ['filtered', 'unmatched'],
  ['no_entity', 'noEntity'],
] as const;

export function createIngestHandler(deps: PipelineDeps): BatchHandler {
  const stored = new Map<string, number>(); // `${funnel}\u0000${partition}` → last applied offset
  const log = deps.logger.child({ component: 'ingest' });

  async function storedOffset(funnel: FunnelDef, partition: string): Promise<number> {
    const k = `${funnel.name}\u0000${partition}`;
    let v = stored.get(k);
    if (v === undefined) {
      v = (await deps.store.getOffsets(funnel, [partition])).get(partition) ?? -1;
      stored.set(k, v);
    }
    return v;
  }

  async function deadLetter(batch: SourceBatch, bad: DeadLetter[], now: number): Promise<void> {
    if (bad.length === 0) return;
    await deps.deadLetters.send(bad, now);
    for (const b of bad) deps.metrics.eventsRejected.inc({ reason: b.reason });
    log.warn(
      {
        topic: batch.topic,
        partition: batch.partition,
        rejected: bad.length,
        first: { offset: bad[0]!.raw.offset, reason: bad[0]!.reason, detail: bad[0]!.detail },
      },
      'events rejected to the dead-letter topic',
    );
  }

  function recordApplied(funnel: FunnelDef, c: ApplyCounts, watermark: number | undefined, now: number): void {
    const applied = c.entries + c.steps;
    if (applied) deps.metrics.eventsApplied.inc({ funnel: funnel.name }, applied);
    for (const [outcome, field] of OUTCOMES) {
      const n = c[field];
      if (n) deps.metrics.windowOutcomes.inc({ funnel: funnel.name, outcome }, n);
    }
    if (c.lateDropped) deps.metrics.eventsLate.inc({ funnel: funnel.name }, c.lateDropped);
    if (watermark !== undefined)
      deps.metrics.watermarkAge.set({ funnel: funnel.name }, Math.max(0, (now - watermark) / 1000));
  }

  /**
   * A Kafka partition whose log ends at or before the offset Redis has applied is a new log (offset-regressions.ts):
   * throws a retriable error so the batch waits, nothing skipped or committed, and forgets the cached offset so the
   * retry reads Redis again (an operator's reset-checkpoints lets it through).
   */
  function checkRegression(batch: SourceBatch, funnel: FunnelDef, key: string, applied: number): void {
    const highWatermark = Number(batch.highWatermark);
    // A log holding this batch ends after its last message; a high watermark that says otherwise is not trusted.
    const last = Number(batch.messages[batch.messages.length - 1]!.offset);
    if (!(highWatermark > last) || !(applied >= highWatermark)) return;
    stored.delete(key);
    deps.regressions?.found({
      topic: batch.topic,
      partition: batch.partition,
      funnel: funnel.name,
      storedOffset: applied,
      highWatermark,
      since: deps.clock.now(),
    });
    throw new FwError(
      'KAFKA_OFFSET_REGRESSION',
      `${batch.topic}/${batch.partition}: Redis has applied up to offset ${applied} for funnel ${funnel.name} ` +
        `but the log ends at ${highWatermark}; waiting for \`funnelwatch kafka reset-checkpoints\``,
    );
  }

  /** Applies the part of the batch `funnel` does not have yet; the store's offset fence decides what that is. */
  async function applyFunnel(
    batch: SourceBatch,
    c: ClassifiedBatch,
    funnel: FunnelDef,
    bit: number,
    now: number,
  ): Promise<void> {
    const partition = batch.partitionId ?? String(batch.partition);
    const key = `${funnel.name}\u0000${partition}`;
    for (let attempt = 0; ; attempt++) {
      const applied = await storedOffset(funnel, partition);
      if (batch.partitionId === undefined) checkRegression(batch, funnel, key, applied);
      const range = applyRange(batch.messages, applied);
      if (!range) return; // all of it was applied before (replay after a crash or rebalance)
      const events = funnelEvents(c, funnel, bit, range.fromIndex);
      const { firstOffset, lastOffset } = range;
      const res = await deps.store.applyBatch({ funnel, partition, firstOffset, lastOffset, events, now });
      if (res.status === 'applied') {
        stored.set(key, range.lastOffset);
        recordApplied(funnel, res.counts, res.watermark, now);
        if (events.length > 0) deps.onApplied?.(funnel.name, now);
        return;
      }
      // Refused as a duplicate: another replica applied past our view; refilter from the offset it reports.
      stored.set(key, res.storedOffset);
      if (attempt > 3)
        throw new FwError(
          'WINDOW_REFUSED',
          `window store keeps refusing ${funnel.name}/${partition} at offset ${res.storedOffset}`,
        );
    }
  }

  return async (batch: SourceBatch) => {
    const started = process.hrtime.bigint();
    const now = deps.clock.now();
    const funnels = deps.funnels();
    const classified = classifyMessages(batch, funnelMasks(funnels), { ...deps.parse, now });
    await deadLetter(batch, classified.bad, now);
    if (classified.ignored) deps.metrics.eventsIgnored.inc(classified.ignored);
    if (classified.ignoredTypes) deps.unmatched?.observeUnused(classified.ignoredTypes);
    deps.unmatched?.observe(classified.goodEvents, funnels, now);
    // Funnels are independent key spaces: apply them concurrently (ioredis pipelines the calls on one connection).
    // Store failures come back classified (FwError); anything else meets the consumer's one rule (isRetriable).
    await Promise.all(funnels.map(async (funnel, i) => applyFunnel(batch, classified, funnel, funnelBit(i), now)));
    if (batch.partitionId === undefined) deps.regressions?.resolved(batch.topic, batch.partition);
    await batch.heartbeat();
    deps.metrics.batchesApplied.inc({ outcome: 'applied' });
    deps.metrics.batchApplySeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  };
}
