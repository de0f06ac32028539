/**
 * A Redis Cluster primary fails over under a running daemon (in-process, FW_REDIS_CLUSTER=true) on a cluster of its
 * own: 3 primaries with a replica each, node timeout 1 s.
 * - During ingest (Kafka consumer applying batches): the primaries holding the funnel's partition keys are failed
 *   over one after the other (twice CLUSTER FAILOVER, once SIGKILL of the primary) while events keep arriving; every
 *   event is counted exactly once (a batch refused during the switch is held and retried, not committed, and the
 *   per-partition offset fence keeps a retried batch from counting twice).
 * - During delivery: the primary holding the `{alerts}` slot (outbox, delivery records, lease) is SIGKILLed while
 *   the webhook holds the page, so the settle step meets a dead node; the replica takes over and the page is
 *   delivered exactly once (with a claim-idle time short enough that a job left pending would be delivered again).
 */
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { Partitioners } from 'kafkajs';
import { pino } from 'pino';
import { Cluster } from 'ioredis';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { startRedisCluster, type RedisClusterHandle } from '../../../src/devenv/redis-server.js';
import { alertsKeys } from '../../../src/redis/alert-keys.js';
import { RedisWindowStore } from '../../../src/windows/redis-window-store.js';
import { eventually, kafka, kafkaBrokers, uniqueName, uniquePrefix } from '../../support/env.js';
import {
  MIN,
  shopFunnel,
  shopMinute,
  shopRulesDir,
  startWebhook,
  type WebhookBody,
} from '../../support/shop-daemon.js';

// A cluster of its own per test: a killed primary stays down, and its slots have no replica left after.
let cluster: RedisClusterHandle;
beforeEach(async () => {
  cluster = await startRedisCluster(3, { replicas: 1, nodeTimeoutMs: 1_000 });
}, 120_000);
afterEach(async () => {
  await cluster?.stop();
});

function clusterEnv(prefix: string): Record<string, string> {
  return {
    FW_REDIS_CLUSTER: 'true',
    FW_REDIS_URL: cluster.nodes.map((n) => `redis://${n.host}:${n.port}`).join(','),
    FW_REDIS_PREFIX: prefix,
    FW_HTTP_PORT: '0',
    FW_HTTP_HOST: '127.0.0.1',
    FW_INSTANCE_ID: uniqueName('replica'),
    FW_TICK_SCHEDULE: '* * * * * *',
    FW_LEASE_TTL_MS: '3000',
    FW_DELIVERY_BACKOFF_MS: '100',
  };
}

async function startDaemon(env: Record<string, string>): Promise<Daemon> {
  const d = new Daemon({ config: loadConfig(env), logger: pino({ level: 'silent' }) });
  onTestFinished(() => d.stop());
  await d.start();
  return d;
}

function testCluster(): Cluster {
  const c = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 3 } });
  onTestFinished(() => c.disconnect());
  return c;
}

describe('Redis Cluster primary failover', () => {
  it('during ingest: every event counted exactly once', async () => {
    const hook = await startWebhook();
    onTestFinished(() => hook.close());
    const prefix = uniquePrefix();
    const topic = uniqueName('events');
    await startDaemon({
      ...clusterEnv(prefix),
      FW_RULES_DIR: shopRulesDir(hook.url),
      FW_KAFKA_BROKERS: kafkaBrokers().join(','),
      FW_KAFKA_TOPICS: topic,
      FW_KAFKA_GROUP: uniqueName('group'),
      FW_KAFKA_DLQ_TOPIC: `${topic}.dlq`,
      FW_KAFKA_FROM_BEGINNING: 'true',
      FW_KAFKA_MAX_WAIT_MS: '100',
    });
    const producer = kafka().producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: true,
    });
    await producer.connect();
    onTestFinished(() => producer.disconnect());
    await producer.send({ topic, messages: [] }).catch(() => undefined);

    const store = new RedisWindowStore({ redis: testCluster(), prefix });
    const t0 = Math.floor(Date.now() / MIN) * MIN - 60 * MIN;
    const q = { funnel: shopFunnel, from: t0 - MIN, to: t0 + 61 * MIN };
    // 60 minutes of the shop in 6 chunks; after each of the first three, one partition's primary fails over while
    // the consumer is still applying what was just produced: twice gracefully, then by killing the primary (the
    // consumer meets connection errors and CLUSTERDOWN until the replica is promoted).
    const sent: ReturnType<typeof shopMinute> = [];
    let failovers = 0;
    let countedAtFailover = 0;
    for (let chunk = 0; chunk < 6; chunk++) {
      const events = Array.from({ length: 10 }, (_, k) => shopMinute(t0, chunk * 10 + k, 1_000)).flat();
      sent.push(...events);
      await producer.send({ topic, messages: events.map((e) => ({ key: e.entity, value: JSON.stringify(e) })) });
      if (chunk < 3) {
        countedAtFailover = Math.max(countedAtFailover, (await store.stepTotals(q)).volume[0] ?? 0);
        await cluster.failover(`{shop:${chunk}}`, chunk < 2 ? 'graceful' : 'kill');
        failovers++;
      }
    }
    expect(failovers).toBe(3);
    const started = sent.filter((e) => e.type === 'checkout_started').length;
    const paid = sent.filter((e) => e.type === 'order_completed').length;
    expect(started).toBe(2_400);
    // The failovers happened while counts were still arriving (not after ingest had finished).
    expect(countedAtFailover).toBeLessThan(started);
    const totals = await eventually(
      async () => {
        const t = await store.stepTotals(q);
        return t.volume[0] === started && t.volume[1] === paid ? t : undefined;
      },
      90_000,
      'every event counted after the failovers',
    );
    expect(totals.volume).toEqual([started, paid]);
  }, 240_000);

  it('during delivery: the page reaches the webhook exactly once', async () => {
    const prefix = uniquePrefix();
    let killed: number | undefined;
    // The first page: the {alerts} primary dies while the webhook holds the request; answered 200 right after, so
    // the worker's settle step is the first command to meet the dead primary.
    const hook = await startWebhook(async (body: WebhookBody) => {
      if (killed === undefined && body.event === 'firing') killed = await cluster.killPrimaryOf('{alerts}');
    });
    onTestFinished(() => hook.close());
    const d = await startDaemon({
      ...clusterEnv(prefix),
      FW_RULES_DIR: shopRulesDir(hook.url),
      // Short, so that a job left pending by a failed settle would be taken over and delivered a second time
      // within this test; the settle's own retries stop at half of it.
      FW_DELIVERY_CLAIM_IDLE_MS: '12000',
    });
    const t0 = Math.floor(Date.now() / MIN) * MIN - 100 * MIN;
    const events = Array.from({ length: 100 }, (_, k) => shopMinute(t0, k, 88)).flat();
    const r = await fetch(`${d.httpUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(r.status).toBeLessThan(300);

    const firing = await eventually(
      () => (killed === undefined ? undefined : hook.bodies.find((b) => b.event === 'firing')),
      120_000,
      'the firing page reaches the webhook',
    );
    await cluster.awaitTakeover('{alerts}', killed!);

    // Settled: the outbox stream and its retry set empty, nothing pending in the consumer group, and the
    // incident's delivery record written. Only then count the pages (a duplicate would have come before).
    const redis = testCluster();
    const k = alertsKeys(prefix);
    await eventually(
      async () => {
        const [len, delayed, records] = await Promise.all([
          redis.xlen(k.outbox),
          redis.zcard(k.delayed),
          redis.hgetall(k.delivery),
        ]);
        const pending = len > 0 ? ((await redis.xpending(k.outbox, 'delivery')) as [number])[0] : 0;
        const open = Object.values(records).some((v) => v.includes('"open"'));
        return len === 0 && delayed === 0 && pending === 0 && open ? true : undefined;
      },
      60_000,
      'the firing job settled after the failover',
    );
    const pages = hook.bodies.filter((b) => b.event === 'firing' && b.groupKey === firing.groupKey);
    expect(pages.map((b) => b.jobId)).toEqual([firing.jobId]);
  }, 240_000);
});
