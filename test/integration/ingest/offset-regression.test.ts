import { describe, it, expect, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { runResetCheckpoints } from '../../../src/app/reset-checkpoints.js';
import { KeyLayout } from '../../../src/windows/key-layout.js';
import { redisUrl, kafkaBrokers, uniquePrefix, uniqueName, eventually, redisClient, kafka } from '../../support/env.js';

const TOKEN = 'offsets-token';

describe('Kafka offsets that go backwards (a new broker or topic with the same Redis)', () => {
  it('are reported (log, metric, /readyz) and held, and reset-checkpoints lets the new log count', async () => {
    const prefix = uniquePrefix();
    const topic = uniqueName('events');
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const config = loadConfig({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: prefix,
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: 'rules',
      FW_INGEST_TOKEN: TOKEN,
      FW_INSTANCE_ID: 'offsets',
      FW_KAFKA_BROKERS: kafkaBrokers().join(','),
      FW_KAFKA_TOPICS: topic,
      FW_KAFKA_GROUP: uniqueName('g'),
      FW_KAFKA_FROM_BEGINNING: 'true',
    });
    const d = new Daemon({ config, logger });
    onTestFinished(() => d.stop());
    await d.start();
    const now = Date.now();
    const post = async (entity: string) => {
      const r = await fetch(`${d.httpUrl}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify([{ id: entity, type: 'checkout_started', ts: now - 60_000, entity }]),
      });
      expect(await r.json()).toMatchObject({ accepted: 1 });
    };
    const checkout = d.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    const volume = async () =>
      (await d.windows.stepTotals({ funnel: checkout, from: now - 3_600_000, to: now + 60_000 })).volume[0];

    await post('a1');
    await eventually(async () => ((await volume()) === 1 ? true : undefined), 30_000, 'the first event applied');

    // What a longer, older log leaves in Redis, on every partition of the topic: offsets far beyond anything the
    // (new) topic has.
    const admin = kafka().admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.disconnect();
    const parts = meta.topics[0]!.partitions.map((p) => String(p.partitionId));
    expect(parts.length).toBeGreaterThan(0);
    const redis = redisClient();
    const keys = new KeyLayout(prefix);
    for (const p of parts) {
      await redis.hset(keys.meta('checkout', p), 'o', '1000000');
      await redis.sadd(keys.partitions('checkout'), p);
    }

    await post('a2');
    const metric = await eventually(
      async () => {
        const m = await (await fetch(`${d.httpUrl}/metrics`)).text();
        return m.match(new RegExp(`^fw_kafka_offset_regressions_total\\{topic="${topic}",partition="\\d+"\\} 1$`, 'm'))
          ? m
          : undefined;
      },
      30_000,
      'fw_kafka_offset_regressions_total',
    );
    expect(metric).toBeDefined();
    const ready = await fetch(`${d.httpUrl}/readyz`);
    expect(ready.status).toBe(503);
    const report = (await ready.json()) as { checks: Record<string, { ok: boolean; reason?: string }> };
    expect(report.checks['kafka-offsets']).toMatchObject({
      ok: false,
      reason: expect.stringContaining('reset-checkpoints'),
    });
    const errors = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 50);
    expect(errors.some((l) => /offsets went backwards/.test(l.msg))).toBe(true);
    expect(await volume()).toBe(1); // held, not counted and not lost

    const out: string[] = [];
    const io = { out: (l: string) => void out.push(l), err: (l: string) => void out.push(l) };
    const opts = {
      redisUrl: redisUrl(),
      redisCluster: false,
      prefix,
      rulesDir: 'rules',
      kafkaTopics: [topic],
    };
    // A dry run changes nothing.
    expect(await runResetCheckpoints({ ...opts, yes: false }, io)).toBe(0);
    expect(out.join('\n')).toMatch(/applied up to offset 1000000[\s\S]*--yes/);
    expect(await redis.hget(keys.meta('checkout', parts[0]!), 'o')).toBe('1000000');
    expect(await runResetCheckpoints({ ...opts, topic: 'not-ours', yes: true }, io)).toBe(2);
    expect(await runResetCheckpoints({ ...opts, topic, yes: true }, io)).toBe(0);

    // The held event is applied now, and the new log's later events count too; /readyz recovers.
    await eventually(async () => ((await volume()) === 2 ? true : undefined), 30_000, 'the held event applied');
    await post('a3');
    await eventually(async () => ((await volume()) === 3 ? true : undefined), 30_000, 'a new event applied');
    await eventually(
      async () => ((await fetch(`${d.httpUrl}/readyz`)).status === 200 ? true : undefined),
      10_000,
      '/readyz ready again',
    );
  });
});
