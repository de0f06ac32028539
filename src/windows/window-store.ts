/**
 * The window store port: what ingest writes (one batch per funnel and partition, exactly once) and what the
 * evaluator, drill-down and API read (step volumes, conversions, durations), all by EVENT time.
 *
 * Meaning of the counts (the same for every adapter):
 * - volume[s]: events that reached step s in the bucket, counting each entity once per step (a duplicate is not
 *   volume). Events of a later step with no known entry, or after the entity's window expired, are volume too:
 *   they are real traffic of that step, only not a conversion.
 * - cohort: entities that entered (volume[0]) in a window, and how many of them reached step s within
 *   `conversionWindowMs` of their entry; counted at the entry bucket, sliced by the entry's dimension values.
 * - durations[s]: time from the entity's previous step to step s (steps reached in order and within the window).
 * - duplicate: an entity reaching a step it already reached (or entering again while its window is open); ignored.
 * - outOfOrder: an entity reaching step s after it already reached a later step (in partition order); counted as
 *   a conversion, without a duration.
 * - noEntry: a later step of an entity the store has no entry for (never entered, state expired, or the entity's
 *   events were spread over several partitions, which breaks the Kafka keying contract).
 * - expired: a later step more than `conversionWindowMs` after the entity's entry.
 * - late: events older than the partition watermark minus `allowedLatenessMs`, or falling into a sealed bucket
 *   (below); counted, not applied.
 * - lateCohort: a conversion whose entity entered in a sealed bucket: the step counts (volume, duration) in its own
 *   bucket, but the cohort counter of the sealed entry bucket is not incremented; counted.
 *
 * Life of a bucket (the Redis adapter; key-layout.ts has the keys):
 * - HOT: each partition writes its own copy of a bucket (applyBatch, atomic with the offset), fine buckets only.
 * - SEALED: once the funnel's event time (newest watermark over its partitions) is past the bucket's end by
 *   allowedLateness + conversionWindow + 2 buckets, compaction seals it on every partition: from then on a write
 *   into it is late. Only a partition lagging the others by more than that delay sees sealed buckets; an idle
 *   partition simply gets sealed too and never holds compaction back.
 * - COMPACTED: `compact()` sums the partitions' sealed hot buckets into ONE funnel-level history fine bucket and adds
 *   it into the history rollup bucket, exactly once, contiguously, and deletes the hot copies. History therefore
 *   costs the same for 1 or 64 partitions.
 * Reads are transparent: a bucket below the funnel's compactedUpTo is read from history, any later one by summing
 * the partitions' hot buckets; rollups (history only) serve long windows once compaction has passed their end.
 */
import type { FwEvent } from '../events/event.js';
import type { FunnelDef } from '../funnels/funnel.js';

export interface ApplyBatchInput {
  funnel: FunnelDef;
  /** Kafka partition number as a string, or another source id such as 'http'. */
  partition: string;
  /** Offsets of the first and last message of the batch (inclusive); the store records `lastOffset`. */
  firstOffset: number;
  lastOffset: number;
  /** Events in partition order (order decides duplicates and out-of-order steps). */
  events: readonly FwEvent[];
  /** Processing time; only used for the TTL refresh of funnel-level keys, never for window logic. */
  now: number;
}

/** What one applied batch did. Every matched event lands in exactly one of lateDropped, entries, steps, duplicates,
 *  noEntry, expired (so they sum to `matched`); outOfOrder is a subset of steps. */
export interface ApplyCounts {
  /** Events the batch held. */
  events: number;
  /** Events matching no step of the funnel. */
  unmatched: number;
  /** Matched events without an entity under `entityField`; not applied. */
  noEntity: number;
  /** Matched events with an entity, sent to the store. */
  matched: number;
  lateDropped: number;
  /** New entries (step 0). */
  entries: number;
  /** Later steps counted as conversions (including out-of-order ones). */
  steps: number;
  duplicates: number;
  outOfOrder: number;
  noEntry: number;
  expired: number;
  /** Steps whose cohort increment was not applied because the entry bucket is sealed; a subset of steps. */
  lateCohort: number;
}

export type ApplyResult =
  | { status: 'applied'; counts: ApplyCounts; storedOffset: number; watermark: number | undefined }
  | { status: 'duplicate'; storedOffset: number };

/** A query window [from, to) in event time, epoch ms. The answer says which window it really covered (bucket
 *  aligned, and widened to rollup buckets where fine buckets have expired). */
export interface WindowQuery {
  funnel: FunnelDef;
  from: number;
  to: number;
}

export interface CoveredWindow {
  from: number;
  to: number;
}

/** Per-step counts; index = step index. */
export type StepCounts = number[];

export interface StepTotals extends CoveredWindow {
  volume: StepCounts;
  duplicates: StepCounts;
  outOfOrder: StepCounts;
  noEntry: StepCounts;
  expired: StepCounts;
}

/** One bucket's raw counts, as the evaluator reads them (windows sum these). */
export interface BucketCounts {
  start: number;
  widthMs: number;
  /** Per-step volume and cohort reached (cohort[0] = entered), funnel-wide. */
  volume: StepCounts;
  cohort: StepCounts;
  /** Per asked dimension → value → the same two arrays, for the entities with that value. */
  dims: Record<string, { volume: Record<string, StepCounts>; cohort: Record<string, StepCounts> }>;
  /** Per asked duration step → log-histogram bucket → count (histogram.ts). */
  durations: Record<number, Record<number, number>>;
}

export interface BucketSeries {
  resolution: 'fine' | 'rollup';
  /** Every bucket of the resolution in [from, to), oldest first, empty ones included. */
  buckets: BucketCounts[];
  /** Buckets ending at or before this are compacted history and will not change again (−Infinity: none yet).
   *  Rollup buckets after it are partial (compaction fills them); fine buckets after it still take writes. */
  compactedTo: number;
}

export interface CompactOptions {
  /** At most this many fine buckets per call (default 1440, a day of 1-minute buckets); call again for more. */
  maxBuckets?: number;
}

export interface CompactResult {
  /** Buckets starting before this are in funnel-level history (undefined: nothing compacted yet). */
  compactedUpTo: number | undefined;
  /** Fine buckets this call moved into history (0 when there was nothing sealed, or another replica did it). */
  buckets: number;
  /** Every partition's sealedUpTo is at least this now: writes into buckets starting before it count as late. */
  sealedUpTo: number | undefined;
}

export interface WindowStore {
  /** Applies one batch atomically with its offset; refuses (nothing applied) a batch at or below the stored one. */
  applyBatch(input: ApplyBatchInput): Promise<ApplyResult>;
  /** Stored (last applied) offset per partition; undefined where nothing was applied yet. */
  getOffsets(funnel: FunnelDef, partitions: readonly string[]): Promise<Map<string, number | undefined>>;
  /** Newest event time applied, per partition the funnel has seen. */
  getWatermarks(funnel: FunnelDef): Promise<Map<string, number>>;
  /** Partitions (sources) that have written state for the funnel. */
  partitions(funnel: FunnelDef): Promise<string[]>;

  /** Volume and anomaly counts summed over a window of any length (fine and rollup buckets). */
  stepTotals(q: WindowQuery): Promise<StepTotals>;
  /**
   * Raw per-bucket counts over [from, to) at one resolution, funnel-wide plus the asked dimensions and duration
   * steps: what the evaluator builds its per-minute series and baselines from (it caches what is compacted).
   * Fine buckets older than the fine retention and rollups older than theirs come back empty.
   */
  bucketCounts(
    q: WindowQuery & {
      resolution: 'fine' | 'rollup';
      dimensions?: readonly string[];
      /** Only these values of a dimension (its other values are not read: a chart of one segment value). */
      values?: Readonly<Record<string, readonly string[]>>;
      durationSteps?: readonly number[];
    },
  ): Promise<BucketSeries>;

  /**
   * Seals what the funnel's event time allows and moves sealed buckets into funnel-level history, exactly once.
   * Idempotent and safe to run from every replica at once (a range another replica compacted is refused and
   * skipped); call it every minute or so. Query answers are the same before and after.
   */
  compact(funnel: FunnelDef, opts?: CompactOptions): Promise<CompactResult>;
}
