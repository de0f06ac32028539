/**
 * The daemon's one kafkajs client. The producer (HTTP ingest, dead letters), the events consumer and the deploy
 * marker consumer all come from it, so the brokers, client id, log bridge and connection retry are set once.
 */
import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { Logger } from '../obs/logger.js';

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
}

/** Connection and metadata retries of every producer and consumer made from the client. */
export const KAFKA_CLIENT_RETRY = { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 } as const;

/** kafkajs' own defaults, which the producer had while it was built from a client of its own (see app/daemon.ts). */
export const KAFKA_PRODUCER_RETRY = { retries: 5, initialRetryTime: 300, maxRetryTime: 30_000 } as const;

export function createKafkaClient(o: KafkaClientOptions): Kafka {
  return new Kafka({
    clientId: o.clientId,
    brokers: o.brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(o.logger),
    retry: { ...KAFKA_CLIENT_RETRY },
  });
}

/** kafkajs log entries into our logger; its INFO chatter (joins, commits) goes to debug. */
export function kafkaLogCreator(logger: Logger) {
  const log = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log: entry }: LogEntry) => {
      const { message, ...rest } = entry;
      if (level === logLevel.ERROR) log.error(rest, message);
      else if (level === logLevel.WARN) log.warn(rest, message);
      else if (level === logLevel.INFO) log.debug(rest, message);
    };
}
