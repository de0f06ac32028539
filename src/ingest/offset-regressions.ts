/**
 * Kafka offsets that went backwards: Redis records, per funnel and partition, the last offset applied (the window
 * store's offset fence). A new broker or a re-created topic starts its offsets again while Redis keeps the old ones,
 * and without a check every event up to the old offset would be skipped as already applied, silently.
 *
 * The pipeline calls `found` when a partition's stored offset is at or past the broker's high watermark (the offset
 * of the next message it would write): no log the daemon applied from can be shorter than what was applied from it,
 * so the log is a new one. That partition then waits (the batch is retried, nothing committed, nothing skipped) until
 * an operator accepts the new log with `funnelwatch kafka reset-checkpoints`, which clears the stored offsets; the
 * next retry applies it. Meanwhile: an error log line and fw_kafka_offset_regressions_total once per episode, and
 * /readyz not ready (the `kafka-offsets` check). Not seen: a new log that has already grown past the old offset before
 * the daemon reads it (its first events up to the old offset are skipped as duplicates).
 */
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';

export interface OffsetRegression {
  topic: string;
  partition: number;
  funnel: string;
  storedOffset: number;
  highWatermark: number;
  since: number;
}

export class OffsetRegressions {
  private readonly open = new Map<string, OffsetRegression>();

  constructor(private readonly deps: { metrics: Metrics; logger: Logger }) {}

  /** A partition's stored offset is at or past the broker's high watermark. Logged and counted once per episode. */
  found(r: OffsetRegression): void {
    const k = `${r.topic}\u0000${r.partition}`;
    if (this.open.has(k)) return;
    this.open.set(k, r);
    this.deps.metrics.kafkaOffsetRegressions.inc({ topic: r.topic, partition: String(r.partition) });
    this.deps.logger.error(
      { ...r, command: 'funnelwatch kafka reset-checkpoints --yes' },
      `kafka offsets went backwards on ${r.topic}/${r.partition}: Redis has applied up to offset ${r.storedOffset} ` +
        `(funnel ${r.funnel}) but the log ends at ${r.highWatermark} (a new broker or topic?); the partition waits ` +
        'until an operator accepts the new log with `funnelwatch kafka reset-checkpoints`',
    );
  }

  /** The partition applied a batch again: the episode is over. */
  resolved(topic: string, partition: number): void {
    const k = `${topic}\u0000${partition}`;
    const r = this.open.get(k);
    if (!r) return;
    this.open.delete(k);
    this.deps.logger.warn({ topic, partition }, `kafka partition ${topic}/${partition} applies events again`);
  }

  list(): OffsetRegression[] {
    return [...this.open.values()];
  }

  /**
   * For /readyz: null when no partition waits. `assigned`: only those this replica still reads (a partition that
   * moved to another replica is that one's to report).
   */
  reason(assigned?: readonly { topic: string; partition: number }[]): string | null {
    const mine = assigned ? new Set(assigned.map((a) => `${a.topic}\u0000${a.partition}`)) : undefined;
    const open = this.list().filter((r) => !mine || mine.has(`${r.topic}\u0000${r.partition}`));
    if (open.length === 0) return null;
    const parts = open
      .slice(0, 5)
      .map((r) => `${r.topic}/${r.partition} (stored ${r.storedOffset}, log ends at ${r.highWatermark})`);
    return (
      `kafka offsets went backwards on ${parts.join(', ')}${open.length > 5 ? ' and more' : ''}: ` +
      'events there wait; accept the new log with `funnelwatch kafka reset-checkpoints --yes`'
    );
  }
}
