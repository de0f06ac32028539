/**
 * The daemon itself (dist/main.js as a child process) on the test setup's 3-node Redis Cluster, FW_REDIS_CLUSTER=true
 * with FW_REDIS_URL naming the nodes: events through Kafka and through HTTP, compaction into funnel history, an
 * evaluation that fires, its delivery to a local webhook server, and a restart after which the counts are intact
 * and nothing is delivered twice. On a standalone client the same run fails (every command against a cluster node
 * that does not own the key's slot is refused with MOVED, and multi-key scripts would meet CROSSSLOT).
 */
import { describe, expect, it, inject, onTestFinished } from 'vitest';
import { Partitioners } from 'kafkajs';
import { RedisWindowStore } from '../../../src/windows/redis-window-store.js';
import { scanKeys } from '../../../src/redis/client.js';
import { spawnDaemon, type DaemonChild } from '../../support/daemon.js';
import { eventually, kafka, kafkaBrokers, redisClusterClient, uniqueName, uniquePrefix } from '../../support/env.js';
import {
  MIN,
  shopFunnel,
  shopMinute,
  shopRulesDir,
  startWebhook,
  type WebhookBody,
} from '../../support/shop-daemon.js';

describe('the daemon on a Redis Cluster', () => {
  it(
    'ingests through Kafka and HTTP, compacts, fires, delivers to a webhook, ' +
      'and restarts without losing counts or paging twice',
    async () => {
      const hook = await startWebhook();
      onTestFinished(() => hook.close());
      const nodes = inject('redisClusterNodes');
      const prefix = uniquePrefix();
      const topic = uniqueName('events');
      const env = {
        FW_REDIS_CLUSTER: 'true',
        FW_REDIS_URL: nodes.map((n) => `redis://${n.host}:${n.port}`).join(','),
        FW_REDIS_PREFIX: prefix,
        FW_RULES_DIR: shopRulesDir(hook.url),
        FW_HTTP_HOST: '127.0.0.1',
        FW_LOG_LEVEL: 'info',
        FW_KAFKA_BROKERS: kafkaBrokers().join(','),
        FW_KAFKA_TOPICS: topic,
        FW_KAFKA_GROUP: uniqueName('group'),
        FW_KAFKA_DLQ_TOPIC: `${topic}.dlq`,
        FW_KAFKA_FROM_BEGINNING: 'true',
        FW_KAFKA_MAX_WAIT_MS: '100',
        // Compaction and evaluation every second instead of once a minute.
        FW_TICK_SCHEDULE: '* * * * * *',
        FW_LEASE_TTL_MS: '3000',
        FW_DELIVERY_BACKOFF_MS: '100',
      };
      const start = async (): Promise<{ d: DaemonChild; url: string }> => {
        const d = spawnDaemon(env);
        const url = await eventually(
          () => /"url":"(http:[^"]+)"[^\n]*"http server listening"/.exec(d.output())?.[1],
          30_000,
          'daemon listening',
        );
        await eventually(
          async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined),
          30_000,
          'daemon ready',
        );
        return { d, url };
      };

      // 100 minutes of a shop ending a minute ago; the last 12 minutes convert far worse. The first 60 minutes go
      // to Kafka directly, the rest through the daemon's HTTP ingest (which, with Kafka configured, produces to it).
      const t0 = Math.floor(Date.now() / MIN) * MIN - 100 * MIN;
      const dropFrom = 88;
      const producer = kafka().producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: true,
      });
      await producer.connect();
      onTestFinished(() => producer.disconnect());
      await producer.send({ topic, messages: [] }).catch(() => undefined);
      const viaKafka = Array.from({ length: 60 }, (_, k) => shopMinute(t0, k, dropFrom)).flat();
      await producer.send({ topic, messages: viaKafka.map((e) => ({ key: e.entity, value: JSON.stringify(e) })) });

      let a = await start();
      const viaHttp = Array.from({ length: 40 }, (_, k) => shopMinute(t0, 60 + k, dropFrom)).flat();
      const r = await fetch(`${a.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(viaHttp),
      });
      expect(r.status).toBeLessThan(300);

      // Read back from the cluster with the store itself: every event counted once.
      const cluster = redisClusterClient();
      const store = new RedisWindowStore({ redis: cluster, prefix });
      const funnel = shopFunnel;
      const q = { funnel, from: t0 - MIN, to: t0 + 101 * MIN };
      const expectedStarted = [...viaKafka, ...viaHttp].filter((e) => e.type === 'checkout_started').length;
      expect(expectedStarted).toBe(4000);
      const counted = await eventually(
        async () => {
          const t = await store.stepTotals(q);
          return t.volume[0] === expectedStarted ? t : undefined;
        },
        60_000,
        'all started checkouts counted',
      );
      const paid = [...viaKafka, ...viaHttp].filter((e) => e.type === 'order_completed').length;
      expect(counted.volume[1]).toBe(paid);

      // Compaction moved sealed buckets into the funnel's history (tag {shop}) on whichever node owns that slot.
      const historyKeys = async () => {
        let n = 0;
        await scanKeys(cluster, `${prefix}:{shop}:f:*`, async (_node, keys) => {
          n += keys.length;
        });
        return n;
      };
      await eventually(
        async () => ((await historyKeys()) > 0 ? true : undefined),
        60_000,
        'history buckets written by compaction',
      );

      // The drop fires, and the page reaches the webhook once: its incident's trigger, or an update of the shop's
      // incident if a data_stale guard opened it first while the HTTP half of the history was on its way.
      const announcesDrop = (b: WebhookBody) =>
        (b.event === 'firing' || b.event === 'updated') &&
        (b.alerts ?? []).some((x) => x.status === 'firing' && x.labels.alertname === 'paid-drop');
      const page = await eventually(() => hook.bodies.find(announcesDrop), 90_000, 'firing delivered to the webhook');
      const drops = () => hook.bodies.filter((b) => b.event === 'firing' && b.groupKey === page.groupKey);
      expect(drops()).toHaveLength(1);
      const firing = drops()[0]!;

      // Restart: stopped gracefully, started again.
      a.d.proc.kill('SIGTERM');
      expect(await a.d.exited).toBe(0);
      a = await start();
      // The new process evaluates (it holds the lease and has ticked several times) before we count pages again.
      await eventually(
        async () => {
          const m = await (await fetch(`${a.url}/metrics`)).text();
          const evals = Number(/^fw_tick_task_seconds_count\{task="evaluate"\} (\d+)/m.exec(m)?.[1] ?? 0);
          const leader = /^fw_evaluator_leader(?:\{[^}]*\})? 1$/m.test(m);
          return leader && evals >= 5 ? true : undefined;
        },
        60_000,
        'restarted daemon leading and evaluating',
      );
      expect(await store.stepTotals(q)).toEqual(counted);
      const alerts = (await (await fetch(`${a.url}/v1/alerts`)).json()) as unknown;
      expect(JSON.stringify(alerts)).toMatch(/"status":"firing"/);
      expect(drops().map((b) => b.jobId)).toEqual([firing.jobId]);
      a.d.proc.kill('SIGTERM');
      expect(await a.d.exited).toBe(0);
    },
    300_000,
  );
});
