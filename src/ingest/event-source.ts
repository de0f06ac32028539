/**
 * The port between a message transport and the ingest pipeline. Kafka is the production adapter
 * (kafka-source.ts); kafkajs stays behind this interface because it has had no release since 2023.
 *
 * Contract: the source hands the handler one batch of one partition at a time; the batch's offsets are committed
 * only after the handler's promise resolves (the handler resolves once the batch is durably applied). A handler
 * that throws a retriable error gets the same batch again after a backoff, with nothing committed in between.
 * A handler that stops part-way (isActive() turned false during its own retry) resolves with how far it got, and
 * only that much is committed: whoever reads the partition next starts after it.
 */
/**
 * One message of a batch as the pipeline reads it. kafkajs' own message objects have this shape, so the Kafka
 * source hands them through without a copy per message; the full `RawMessage` is built (`rawMessage`) only for
 * the few that go to the dead-letter topic.
 */
export interface SourceMessage {
  /** Kafka offset as a decimal string (int64); increasing within a batch. */
  offset: string;
  key?: Buffer | null;
  value: Buffer | null;
  /** As the transport delivers them (kafkajs: Buffers, or arrays of them for repeated keys). */
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
  /** Broker/producer timestamp, epoch ms as a string. Not the event time. */
  timestamp: string;
}

/** A message with where it came from and its headers as text: what the dead-letter topic keeps. */
export interface RawMessage {
  topic: string;
  partition: number;
  /** Kafka offset as a decimal string (int64). */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Broker/producer timestamp, epoch ms as a string. Not the event time. */
  timestamp: string;
}

export interface SourceBatch {
  topic: string;
  partition: number;
  /** Name under which the window store records this stream's progress; defaults to the partition number.
   *  Direct HTTP ingest (no Kafka) uses `http-<instance>`. */
  partitionId?: string;
  messages: readonly SourceMessage[];
  /** Offset of the next message the broker would write: lag = highWatermark − (last offset + 1). */
  highWatermark: string;
  /** Keeps the group membership alive during long work; cheap to call often. */
  heartbeat(): Promise<void>;
  /** False once the source is stopping or the partition was revoked: stop work and do not commit. */
  isActive(): boolean;
}

/** What a handler that stopped part-way finished: the batch is committed through `doneThrough` only. */
export interface BatchProgress {
  /** Offset of the last message handled (all before it handled too); null: none of the batch. */
  doneThrough: string | null;
}

/** Resolves (without a value) once the whole batch is durably applied, or with the part that is. */
export type BatchHandler = (batch: SourceBatch) => Promise<void | BatchProgress>;

export interface SourceStatus {
  /** Connected and a member of its group. */
  connected: boolean;
  reason?: string;
  assigned: { topic: string; partition: number }[];
}

export interface EventSource {
  start(handler: BatchHandler): Promise<void>;
  /** Stops fetching, lets the batch in flight finish and commit, then disconnects. */
  stop(): Promise<void>;
  status(): SourceStatus;
}

/** Shared by every message without headers (nearly all of them). */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** The full message of `m` in `batch`: topic, partition, and headers as UTF-8 text (repeated keys comma-joined). */
export function rawMessage(batch: Pick<SourceBatch, 'topic' | 'partition'>, m: SourceMessage): RawMessage {
  let headers: Record<string, string> | undefined;
  const h = m.headers;
  if (h) {
    for (const k in h) {
      const v = h[k];
      if (v === undefined) continue;
      (headers ??= {})[k] = Array.isArray(v) ? v.map((x) => x.toString()).join(',') : v.toString();
    }
  }
  return {
    topic: batch.topic,
    partition: batch.partition,
    offset: m.offset,
    key: m.key ?? null,
    value: m.value,
    headers: headers ?? NO_HEADERS,
    timestamp: m.timestamp,
  };
}
