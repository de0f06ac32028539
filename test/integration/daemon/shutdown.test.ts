import { describe, it, expect } from 'vitest';
import { Shop } from '../../../src/demo/shop.js';
import { RedisWindowStore } from '../../../src/windows/redis-window-store.js';
import { loadRuleDir } from '../../../src/rules/loader.js';
import {
  redisUrl,
  kafkaBrokers,
  kafka,
  producer,
  uniqueName,
  uniquePrefix,
  eventually,
  redisClient,
} from '../../support/env.js';
import { spawnDaemon } from '../../support/daemon.js';

describe('graceful shutdown', () => {
  it('SIGTERM during consumption exits 0 within 10 s with the last batch committed', async () => {
    const topic = uniqueName('events');
    const group = uniqueName('group');
    const prefix = uniquePrefix();
    const loaded = await loadRuleDir('rules');
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const checkout = loaded.ruleSet.funnels.find((f) => f.name === 'checkout')!;

    // 30 simulated minutes of a busy shop, produced up front so the daemon is mid-stream when it is told to stop.
    const shop = new Shop({ seed: 7, checkoutsPerMinute: 1500, startTime: Date.now() - 40 * 60_000 });
    const events = shop.tick(Date.now() - 10 * 60_000);
    expect(events.length).toBeGreaterThan(30_000);
    const p = await producer();
    for (let i = 0; i < events.length; i += 5000) {
      await p.send({
        topic,
        messages: events.slice(i, i + 5000).map((e) => ({ key: e.entity, value: JSON.stringify(e) })),
      });
    }

    const daemon = spawnDaemon({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: prefix,
      FW_KAFKA_BROKERS: kafkaBrokers().join(','),
      FW_KAFKA_TOPICS: topic,
      FW_KAFKA_GROUP: group,
      FW_KAFKA_FROM_BEGINNING: 'true',
      FW_RULES_DIR: 'rules',
      FW_LOG_LEVEL: 'info',
    });
    const store = new RedisWindowStore({ redis: redisClient(), prefix });
    const partitions = ['0', '1', '2', '3'];
    const sum = async () =>
      [...(await store.getOffsets(checkout, partitions)).values()].reduce(
        (a: number, b) => a + (b === undefined ? 0 : b + 1),
        0,
      );
    // Wait until consumption is under way but not finished.
    await eventually(async () => ((await sum()) > 1000 ? true : undefined), 30_000, 'consumption to start');
    const appliedBefore = await sum();
    expect(appliedBefore).toBeLessThan(events.length);

    const t0 = Date.now();
    daemon.proc.kill('SIGTERM');
    const code = await Promise.race([
      daemon.exited,
      new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000)),
    ]);
    expect(code, daemon.output().slice(-3000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(daemon.output()).toMatch(/"msg":"stopped"/);

    // What Kafka has committed for the group is exactly what Redis has applied: the batch in flight was finished
    // and committed, nothing applied was left uncommitted (and nothing committed was left unapplied).
    const admin = kafka().admin();
    await admin.connect();
    try {
      const committed = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      const stored = await store.getOffsets(checkout, partitions);
      for (const { partition, offset } of committed[0]!.partitions) {
        const applied = stored.get(String(partition)) ?? -1;
        expect(Number(offset), `partition ${partition}`).toBe(applied === -1 ? -1 : applied + 1);
      }
    } finally {
      await admin.disconnect();
    }
  });
});
