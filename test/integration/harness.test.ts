import { describe, it, expect } from 'vitest';
import {
  redisClient,
  redisClusterClient,
  uniquePrefix,
  uniqueName,
  kafka,
  producer,
  eventually,
} from '../support/env.js';

describe('test harness: real components on loopback', () => {
  it('round-trips a value through the test redis-server', async () => {
    const r = redisClient();
    const key = `${uniquePrefix()}:k`;
    await r.set(key, 'v1', 'PX', 10_000);
    expect(await r.get(key)).toBe('v1');
    expect(await r.pttl(key)).toBeGreaterThan(0);
  });

  it('runs a multi-key Lua call on the 3-node Redis Cluster when the keys share a hash tag', async () => {
    const c = redisClusterClient();
    const tag = `{${uniquePrefix()}}`;
    const res = await c.eval(
      "redis.call('SET', KEYS[1], ARGV[1]); " +
        "redis.call('SET', KEYS[2], ARGV[1]); return redis.call('MGET', KEYS[1], KEYS[2])",
      2,
      `${tag}:a`,
      `${tag}:b`,
      'x',
    );
    expect(res).toEqual(['x', 'x']);
    const nodes = c.nodes('master');
    expect(nodes.length).toBe(3);
  });

  it('delivers what a producer sent to a kafkajs consumer group on the Kafka-protocol broker', async () => {
    const topic = uniqueName('topic');
    const p = await producer();
    const sent = Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 7}`, value: `m${i}` }));
    await p.send({ topic, messages: sent });
    const consumer = kafka().consumer({ groupId: uniqueName('group') });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const got: string[] = [];
      await consumer.run({
        eachMessage: async ({ message }) => {
          got.push(message.value!.toString());
        },
      });
      await eventually(() => (got.length >= sent.length ? true : undefined), 30_000, '200 messages');
      expect(got.sort()).toEqual(sent.map((m) => m.value).sort());
    } finally {
      await consumer.disconnect();
    }
  });
});
