/**
 * Per-test access to the shared real components, each test isolated by its own names: a Redis key prefix, a Kafka
 * topic and a consumer group that no other test uses. Clients made here are closed after the test.
 */
import { randomBytes } from 'node:crypto';
import { inject, onTestFinished } from 'vitest';
import { Redis, Cluster } from 'ioredis';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';

export function uniqueName(kind: string): string {
  return `${kind}-${randomBytes(5).toString('hex')}`;
}

export function redisUrl(): string {
  return inject('redisUrl');
}

export function kafkaBrokers(): string[] {
  return inject('kafkaBrokers');
}

/** A fresh key prefix (no braces: hash tags are the store's business). */
export function uniquePrefix(): string {
  return uniqueName('t');
}

export function redisClient(): Redis {
  const r = new Redis(redisUrl(), { lazyConnect: false, maxRetriesPerRequest: 3 });
  onTestFinished(async () => {
    r.disconnect();
  });
  return r;
}

export function redisClusterClient(): Cluster {
  const c = new Cluster(inject('redisClusterNodes'), { redisOptions: { maxRetriesPerRequest: 3 } });
  onTestFinished(async () => {
    c.disconnect();
  });
  return c;
}

export function kafka(): Kafka {
  return new Kafka({ clientId: uniqueName('test'), brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
}

export async function producer(): Promise<Producer> {
  const p = kafka().producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true });
  await p.connect();
  onTestFinished(async () => {
    await p.disconnect();
  });
  return p;
}

/** Polls `probe` until it returns a value that is not undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
