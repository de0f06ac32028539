/**
 * The deploy topic consumer (the deploy-marker handler in a KafkaSource) against the real Kafka-protocol broker
 * and the real Redis: valid markers stored once
 * (a resent message and a whole re-read by another group are duplicates, a marker without ts takes the message's
 * timestamp so its id survives redelivery), invalid messages rejected with their reasons while the consumer keeps
 * going, a Redis failure retried in place instead of dropping the marker, and a clean stop.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createDeployMarkerHandler, type DeployMessageRef } from '../../../src/deploys/deploy-marker-handler.js';
import { KafkaSource } from '../../../src/ingest/kafka-source.js';
import { createKafkaClient } from '../../../src/ingest/kafka-client.js';
import { RedisDeployStore, type DeployStore } from '../../../src/deploys/deploy-store.js';
import type { Deploy } from '../../../src/deploys/deploy.js';
import { FwError } from '../../../src/core/errors.js';
import { systemClock } from '../../../src/core/clock.js';
import { eventually, kafkaBrokers, producer, redisClient, uniqueName, uniquePrefix } from '../../support/env.js';

const MIN = 60_000;

function logSink() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: pino({ level: 'debug' }, stream) };
}

function startConsumer(topic: string, store: DeployStore, groupId = uniqueName('deploys')) {
  const { lines, logger } = logSink();
  const rejected: { reason: string; where: DeployMessageRef }[] = [];
  const forwarded: Deploy[] = [];
  const kafka = createKafkaClient({ brokers: kafkaBrokers(), clientId: 'test', logger });
  const consumer = new KafkaSource({
    kafka,
    topics: [topic],
    groupId,
    logger,
    fromBeginning: true,
    sessionTimeoutMs: 6_000,
    partitionsConcurrency: 1,
    component: 'deploy-consumer',
  });
  const handler = createDeployMarkerHandler({
    store,
    logger,
    clock: systemClock,
    retryBaseMs: 50,
    retryCapMs: 200,
    onRejected: (reason, where) => rejected.push({ reason, where }),
    onDeploy: (d) => void forwarded.push(d),
  });
  const start = () => consumer.start(handler);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await consumer.stop();
  };
  onTestFinished(stop);
  return { consumer, start, rejected, forwarded, lines, stop };
}

describe('deploy marker consumer', () => {
  it('stores valid markers once, rejects invalid ones with reasons, keeps consuming', async () => {
    const topic = uniqueName('deploys');
    const store = new RedisDeployStore({ redis: redisClient(), prefix: uniquePrefix() });
    const now = Date.now();
    const sentAt = now - 3 * MIN;
    const valid = [
      { service: 'payments-service', version: 'v2.3.1', ts: now - 8 * MIN, attrs: { payment_provider: 'stripe' } },
      { service: 'search-service', version: 'v7', ts: new Date(now - 90 * MIN).toISOString() },
      { service: 'checkout-api', version: '41', ts: now - 20 * MIN, environment: 'staging' },
    ];
    const noTs = { service: 'mobile-bff', version: 'v3' };
    const invalid: [string | null, RegExp][] = [
      ['{"service": "x",', /^not JSON: /],
      [null, /^empty message/],
      [JSON.stringify({ version: 'v1' }), /^service: required/],
      [JSON.stringify({ service: 's', version: 2.1 }), /^version: must be a string/],
      [JSON.stringify({ service: 's', version: '1', ts: now + 60 * MIN }), /^ts: more than 5 minutes in the future/],
      [JSON.stringify([1, 2]), /^the body must be a JSON object/],
    ];
    const p = await producer();
    await p.send({
      topic,
      messages: [
        ...valid.map((v) => ({ key: v.service, value: JSON.stringify(v) })),
        // The same marker twice (a producer retry), and one without ts, also twice with the same message timestamp.
        { key: 'payments-service', value: JSON.stringify(valid[0]) },
        { key: 'mobile-bff', value: JSON.stringify(noTs), timestamp: String(sentAt) },
        { key: 'mobile-bff', value: JSON.stringify(noTs), timestamp: String(sentAt) },
        ...invalid.map(([value]) => ({ key: 'bad', value })),
      ],
    });

    const c = startConsumer(topic, store);
    await c.start();
    await eventually(
      async () => ((await store.list()).length === 4 && c.rejected.length === invalid.length ? true : undefined),
      45_000,
      'markers stored and rejected',
    );

    const stored = await store.list({ limit: 10 });
    expect(stored.map((d) => d.service).sort()).toEqual([
      'checkout-api',
      'mobile-bff',
      'payments-service',
      'search-service',
    ]);
    expect(stored.find((d) => d.service === 'mobile-bff')!.ts).toBe(sentAt);
    expect(stored.find((d) => d.service === 'payments-service')!.attrs).toEqual({ payment_provider: 'stripe' });
    expect(c.forwarded.map((d) => d.service).sort()).toEqual([
      'checkout-api',
      'mobile-bff',
      'payments-service',
      'search-service',
    ]);

    const reasons = c.rejected.map((r) => r.reason);
    for (const [, pattern] of invalid)
      expect(
        reasons.some((r) => pattern.test(r)),
        String(pattern),
      ).toBe(true);
    expect(c.rejected.every((r) => r.where.topic === topic && /^\d+$/.test(r.where.offset))).toBe(true);
    const warned = c.lines.filter((l) => l.msg === 'deploy marker rejected (skipped)');
    expect(warned).toHaveLength(invalid.length);
    expect(warned[0]).toMatchObject({
      topic,
      partition: expect.any(Number),
      offset: expect.any(String),
      reason: expect.any(String),
    });

    // Still consuming after the bad ones.
    await p.send({
      topic,
      messages: [{ key: 'late', value: JSON.stringify({ service: 'late-service', version: 'v1', ts: now - MIN }) }],
    });
    await eventually(async () => ((await store.list()).length === 5 ? true : undefined), 30_000, 'the later marker');
    expect(c.consumer.status()).toMatchObject({ connected: true });
    await c.stop();

    // Another group reads the whole topic again (a replay, a new deployment): every marker is a duplicate.
    const again = startConsumer(topic, store);
    await again.start();
    const duplicates = () => again.lines.filter((l) => l.msg === 'deploy marker already recorded').length;
    await eventually(
      () => (again.rejected.length === invalid.length && duplicates() === 7 ? true : undefined),
      45_000,
      'the re-read',
    );
    expect((await store.list({ limit: 10 })).map((d) => d.service).sort()).toEqual([
      'checkout-api',
      'late-service',
      'mobile-bff',
      'payments-service',
      'search-service',
    ]);
    expect(again.forwarded).toEqual([]);
  }, 120_000);

  it('retries a marker in place while Redis fails, then stores it; nothing is rejected', async () => {
    const topic = uniqueName('deploys');
    const real = new RedisDeployStore({ redis: redisClient(), prefix: uniquePrefix() });
    let failures = 3;
    // Our own store interface with the first calls failing as a Redis outage would (retriable DEPLOY_REDIS).
    const flaky: DeployStore = {
      retentionMs: real.retentionMs,
      add: (d) =>
        failures-- > 0
          ? Promise.reject(new FwError('DEPLOY_REDIS', 'storing deploy: Connection is closed.'))
          : real.add(d),
      list: (q) => real.list(q),
      between: (a, b) => real.between(a, b),
      get: (id) => real.get(id),
    };
    const p = await producer();
    await p.send({
      topic,
      messages: [{ key: 's', value: JSON.stringify({ service: 's', version: 'v1', ts: Date.now() - MIN }) }],
    });
    const c = startConsumer(topic, flaky);
    await c.start();
    await eventually(
      async () => ((await real.list()).length === 1 ? true : undefined),
      45_000,
      'the marker after the outage',
    );
    expect(c.rejected).toEqual([]);
    expect(c.lines.filter((l) => l.msg === 'deploy marker not stored; retrying')).toHaveLength(3);
    expect(c.forwarded).toHaveLength(1);
  }, 90_000);

  it('rejects a marker the store refuses for good (older than the retention) and goes on', async () => {
    const topic = uniqueName('deploys');
    const store = new RedisDeployStore({ redis: redisClient(), prefix: uniquePrefix(), retentionMs: 60 * MIN });
    const p = await producer();
    await p.send({
      topic,
      messages: [
        { key: 'old', value: JSON.stringify({ service: 'old', version: 'v1', ts: Date.now() - 2 * 60 * MIN }) },
        { key: 'new', value: JSON.stringify({ service: 'new', version: 'v1' }) },
      ],
    });
    const c = startConsumer(topic, store);
    await c.start();
    await eventually(
      async () => ((await store.list()).length === 1 && c.rejected.length === 1 ? true : undefined),
      45_000,
      'one stored, one rejected',
    );
    expect(c.rejected[0]!.reason).toMatch(/older than the deploy retention/);
    expect((await store.list())[0]!.service).toBe('new');
  }, 90_000);
});
