/**
 * Exactly-once counts from at-least-once delivery, proven the hard way: the real daemon consumes from the
 * Kafka-protocol broker while we SIGKILL it at random points and restart it; at the end Redis holds exactly the
 * counts computed from what was produced.
 */
import { describe, it, expect } from 'vitest';
import { Shop } from '../../../src/demo/shop.js';
import { mulberry32 } from '../../../src/core/prng.js';
import { RedisWindowStore } from '../../../src/windows/redis-window-store.js';
import { loadRuleDir } from '../../../src/rules/loader.js';
import type { FunnelDef } from '../../../src/funnels/funnel.js';
import type { FwEvent } from '../../../src/events/event.js';
import {
  redisUrl,
  kafkaBrokers,
  producer,
  uniqueName,
  uniquePrefix,
  eventually,
  redisClient,
} from '../../support/env.js';
import { spawnDaemon, type DaemonChild } from '../../support/daemon.js';
import { expectedStepVolume, expectedDimensionVolume } from '../../support/stream.js';
import { windowQueries } from '../../support/window-queries.js';

async function setup(n: number, seed: number) {
  const loaded = await loadRuleDir('rules');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  const funnels = loaded.ruleSet.funnels;
  const start = Date.now() - 120 * 60_000;
  const shop = new Shop({ seed, checkoutsPerMinute: 1000, startTime: start });
  let events: FwEvent[] = [];
  for (let t = start + 60_000; events.length < n; t += 60_000) events = events.concat(shop.tick(t));
  const topic = uniqueName('events');
  const p = await producer();
  for (let i = 0; i < events.length; i += 5000) {
    await p.send({
      topic,
      messages: events.slice(i, i + 5000).map((e) => ({ key: e.entity, value: JSON.stringify(e) })),
    });
  }
  const prefix = uniquePrefix();
  const env = {
    FW_REDIS_URL: redisUrl(),
    FW_REDIS_PREFIX: prefix,
    FW_KAFKA_BROKERS: kafkaBrokers().join(','),
    FW_KAFKA_TOPICS: topic,
    FW_KAFKA_GROUP: uniqueName('group'),
    FW_KAFKA_FROM_BEGINNING: 'true',
    FW_RULES_DIR: 'rules',
    FW_LOG_LEVEL: 'info',
    FW_KAFKA_SESSION_TIMEOUT_MS: '6000',
  };
  const store = new RedisWindowStore({ redis: redisClient(), prefix });
  const partitions = ['0', '1', '2', '3'];
  const appliedUpTo = async (f: FunnelDef) =>
    [...(await store.getOffsets(f, partitions)).values()].reduce(
      (a: number, b) => a + (b === undefined ? 0 : b + 1),
      0,
    );
  return { funnels, events, env, store, appliedUpTo, start };
}

async function verify(s: Awaited<ReturnType<typeof setup>>) {
  for (const f of s.funnels) {
    const mine = s.events.filter((e) => f.steps.some((st) => st.event === e.type));
    const totals = await s.store.stepTotals({ funnel: f, from: s.start - 3_600_000, to: Date.now() + 3_600_000 });
    expect(totals.volume, `${f.name} step volume`).toEqual(expectedStepVolume(f, mine));
    const dim = f.dimensions[0]!.name;
    const byValue = await windowQueries(s.store).dimensionVolume({
      funnel: f,
      from: s.start - 3_600_000,
      to: Date.now() + 3_600_000,
      dimension: dim,
    });
    expect(byValue.values, `${f.name} by ${dim}`).toEqual(expectedDimensionVolume(f, mine, dim));
  }
}

describe('crash safety of the Kafka consumer', () => {
  it('SIGKILLed at random points 5 times and restarted, ends with exactly the produced counts', async () => {
    const s = await setup(50_000, 11);
    expect(s.events.length).toBeGreaterThanOrEqual(50_000);
    const rnd = mulberry32(3);
    const checkout = s.funnels.find((f) => f.name === 'checkout')!;
    const total = s.events.length;
    for (let kill = 0; kill < 5; kill++) {
      const d = spawnDaemon(s.env);
      const before = await s.appliedUpTo(checkout);
      // Kill somewhere between "just joined" and "well into the stream": wait for progress past a random mark.
      const mark = before + Math.floor(rnd() * Math.min(8000, (total - before) / 2)) + 200;
      await eventually(
        async () => ((await s.appliedUpTo(checkout)) >= mark ? true : undefined),
        45_000,
        `progress past ${mark}`,
      );
      d.proc.kill('SIGKILL');
      await d.exited;
    }
    const last = spawnDaemon(s.env);
    await eventually(
      async () => ((await s.appliedUpTo(checkout)) >= total ? true : undefined),
      60_000,
      'all events applied',
    );
    await verify(s);
    last.proc.kill('SIGTERM');
    expect(await last.exited, last.output().slice(-3000)).toBe(0);
  }, 300_000);

  it('ends with exactly the produced counts while a second consumer joins and leaves the group', async () => {
    const s = await setup(50_000, 12);
    const checkout = s.funnels.find((f) => f.name === 'checkout')!;
    const total = s.events.length;
    const a = spawnDaemon(s.env);
    await eventually(
      async () => ((await s.appliedUpTo(checkout)) > 2000 ? true : undefined),
      45_000,
      'first consumer progress',
    );
    const b: DaemonChild = spawnDaemon(s.env); // joins: rebalance
    await eventually(
      () => (/joined consumer group/.test(b.output()) ? true : undefined),
      45_000,
      'second consumer to join',
    );
    await eventually(
      async () => ((await s.appliedUpTo(checkout)) > 15_000 ? true : undefined),
      45_000,
      'progress with two consumers',
    );
    b.proc.kill('SIGKILL'); // leaves abruptly: another rebalance after its session times out
    await b.exited;
    const c = spawnDaemon(s.env); // and one more joins, then leaves politely
    await eventually(
      () => (/joined consumer group/.test(c.output()) ? true : undefined),
      45_000,
      'third consumer to join',
    );
    await eventually(
      async () => ((await s.appliedUpTo(checkout)) > 30_000 ? true : undefined),
      60_000,
      'progress after rejoin',
    );
    c.proc.kill('SIGTERM');
    expect(await c.exited, c.output().slice(-3000)).toBe(0);
    try {
      await eventually(
        async () => ((await s.appliedUpTo(checkout)) >= total ? true : undefined),
        90_000,
        'all events applied',
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}; applied ${await s.appliedUpTo(checkout)} of ${total}; ` +
          `consumer a said:\n${a.output().slice(-4000)}`,
        { cause: err },
      );
    }
    await verify(s);
    a.proc.kill('SIGTERM');
    expect(await a.exited, a.output().slice(-3000)).toBe(0);
  }, 300_000);
});
