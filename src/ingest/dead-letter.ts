/**
 * Where rejected events go: a Kafka topic, each message carrying the original key, value and headers untouched
 * plus headers that say why it was rejected, where it came from (topic, partition, offset) and when. Sending is
 * awaited before the batch's offsets are committed, so a rejected event is never lost; after a crash between the
 * two, the dead-letter topic may hold the same rejection twice (at-least-once), never zero times.
 */
import type { Producer } from 'kafkajs';
import { FwError } from '../core/errors.js';
import type { RawMessage } from './event-source.js';

export interface DeadLetter {
  raw: RawMessage;
  reason: string;
  detail: string;
}

export interface DeadLetterSink {
  send(items: DeadLetter[], now: number): Promise<void>;
}

export const DLQ_HEADERS = {
  reason: 'fw-reject-reason',
  detail: 'fw-reject-detail',
  topic: 'fw-source-topic',
  partition: 'fw-source-partition',
  offset: 'fw-source-offset',
  at: 'fw-rejected-at',
} as const;

export class KafkaDeadLetterSink implements DeadLetterSink {
  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
  ) {}

  async send(items: DeadLetter[], now: number): Promise<void> {
    if (items.length === 0) return;
    const at = new Date(now).toISOString();
    try {
      await this.producer.send({
        topic: this.topic,
        acks: -1,
        messages: items.map(({ raw, reason, detail }) => ({
          key: raw.key,
          value: raw.value,
          headers: {
            ...raw.headers,
            [DLQ_HEADERS.reason]: reason,
            [DLQ_HEADERS.detail]: detail.slice(0, 1000),
            [DLQ_HEADERS.topic]: raw.topic,
            [DLQ_HEADERS.partition]: String(raw.partition),
            [DLQ_HEADERS.offset]: raw.offset,
            [DLQ_HEADERS.at]: at,
          },
        })),
      });
    } catch (err) {
      throw new FwError(
        'DLQ_SEND_FAILED',
        `could not write ${items.length} rejected events to ${this.topic}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}
