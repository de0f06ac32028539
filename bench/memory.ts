/**
 * Memory benchmark of the Redis window store (issue 3): how many bytes one live entity costs and how many MB the
 * history of one realistic funnel takes.
 *
 * Load: 4 steps, 4 dimensions × 10 values, 1,000 entries per minute spread over PARTITIONS Kafka partitions,
 * 5 weeks of history with the default retention (fine 1-minute buckets for 3 days, 15-minute rollups for 35 days),
 * and 300,000 live entities.
 * - History is written as the buckets that load produces, with the store's own key layout and field codes
 *   (src/windows/key-layout.ts), from simulated entities: replaying 50 million events through Lua would take long
 *   and measure nothing more. Bucket contents come from a pool of simulated buckets per resolution.
 * - Live entities go through the real path: RedisWindowStore.applyBatch, batches of 2,000 events per partition.
 *
 * Run (no tsx here; compile, then run the JS; the store finds its .lua files in src/windows/lua on its own):
 *   npx tsc -p tsconfig.json --outDir .tmp/bench && node .tmp/bench/bench/memory.js
 * Environment: PARTITIONS (default 4), LIVE_ENTITIES (default 300000).
 * The last line of output is one JSON object with `bytes_per_live_entity` and `mb_per_funnel_history`.
 */
import { Redis } from 'ioredis';
import { startRedisServer } from '../src/devenv/redis-server.js';
import type { FwEvent } from '../src/events/event.js';
import { FUNNEL_DEFAULTS, type FunnelDef } from '../src/funnels/funnel.js';
import { durationBucket } from '../src/windows/histogram.js';
import { dimCohortField, dimVolumeField, KeyLayout, totalField, TotalKind } from '../src/windows/key-layout.js';
import { RedisWindowStore } from '../src/windows/redis-window-store.js';

const PARTITIONS = Number(process.env.PARTITIONS ?? 4);
const LIVE_ENTITIES = Number(process.env.LIVE_ENTITIES ?? 300_000);
const ENTRIES_PER_MIN = 1000;
const MIN = 60_000;
const DAY = 86_400_000;
const PREFIX = 'fw';
/** Probability of reaching step s given step s-1 (steps 1..3). */
const STEP_P = [1, 0.6, 0.75, 0.9];
/** Median seconds from the previous step, log-normal with sigma 1. */
const STEP_MEDIAN_MS = [0, 45_000, 20_000, 5_000];
const VALUES = 10;

const funnel: FunnelDef = {
  name: 'checkout',
  entityField: 'entity',
  steps: [
    { name: 'start', event: 'checkout_started' },
    { name: 'shipping', event: 'shipping_selected' },
    { name: 'payment', event: 'payment_submitted' },
    { name: 'order', event: 'order_completed' },
  ],
  conversionWindowMs: 30 * MIN,
  bucketMs: FUNNEL_DEFAULTS.bucketMs,
  allowedLatenessMs: FUNNEL_DEFAULTS.allowedLatenessMs,
  dimensions: ['platform', 'region', 'payment_provider', 'app_version'].map((name) => ({ name, maxValues: VALUES })),
  services: [],
  retention: { ...FUNNEL_DEFAULTS.retention },
};

/** Seeded PRNG (mulberry32) so runs are comparable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = prng(42);
/** Zipf-like pick of one of VALUES values: real dimensions are skewed (most traffic on few values). */
const zipfCdf = (() => {
  const w = Array.from({ length: VALUES }, (_, i) => 1 / (i + 1));
  const sum = w.reduce((a, b) => a + b, 0);
  let acc = 0;
  return w.map((x) => (acc += x / sum));
})();
function pickValue(): number {
  const u = rnd();
  const i = zipfCdf.findIndex((c) => u <= c);
  return i < 0 ? VALUES - 1 : i;
}
function logNormal(median: number): number {
  const u = Math.max(rnd(), 1e-12);
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
  return Math.max(1, Math.round(median * Math.exp(z)));
}

/** One simulated bucket: group → field → count, as applyBatch-1.lua would leave it for `entries` entries. */
function simulateBucket(entries: number): Map<string, Map<number, number>> {
  const groups = new Map<string, Map<number, number>>();
  const inc = (g: string, f: number) => {
    let m = groups.get(g);
    if (!m) groups.set(g, (m = new Map()));
    m.set(f, (m.get(f) ?? 0) + 1);
  };
  for (let e = 0; e < entries; e++) {
    const codes = funnel.dimensions.map(() => pickValue());
    for (let s = 0; s < funnel.steps.length; s++) {
      if (s > 0 && rnd() > STEP_P[s]!) break;
      inc('t', totalField(TotalKind.Volume, s));
      codes.forEach((c, i) => inc(`d${i}`, dimVolumeField(s, c)));
      if (s > 0) {
        inc('t', totalField(TotalKind.Cohort, s));
        codes.forEach((c, i) => inc(`d${i}`, dimCohortField(s, c)));
        inc(`h${s}`, durationBucket(logNormal(STEP_MEDIAN_MS[s]!)));
      }
      if (rnd() < 0.01) inc('t', totalField(TotalKind.Duplicate, s));
    }
  }
  return groups;
}

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

async function writeHistory(redis: Redis, keys: KeyLayout, end: number): Promise<{ keys: number; fields: number }> {
  const perPartitionPerMin = ENTRIES_PER_MIN / PARTITIONS;
  const R = funnel.retention.rollupBucketMs;
  const POOL = 24;
  const finePool = Array.from({ length: POOL }, () => simulateBucket(Math.round(perPartitionPerMin)));
  const rollPool = Array.from({ length: POOL }, () => simulateBucket(Math.round((perPartitionPerMin * R) / MIN)));
  let nKeys = 0;
  let nFields = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    const part = String(p);
    let pipe = redis.pipeline();
    let queued = 0;
    const put = async (res: 'f' | 'r', start: number, bucket: Map<string, Map<number, number>>, ttl: number) => {
      for (const [g, fields] of bucket) {
        const key = keys.bucket(funnel.name, part, res, start, g);
        const args: (string | number)[] = [];
        for (const [f, n] of fields) args.push(f, n);
        pipe.hset(key, ...args);
        pipe.pexpire(key, ttl);
        nKeys++;
        nFields += fields.size;
        queued += 2;
      }
      if (queued > 4000) {
        await pipe.exec();
        pipe = redis.pipeline();
        queued = 0;
      }
    };
    let i = 0;
    for (let t = end - funnel.retention.fineMs; t < end; t += funnel.bucketMs) {
      await put('f', t, finePool[(i++ + p) % POOL]!, t + funnel.bucketMs + funnel.retention.fineMs - end + DAY);
    }
    for (let t = end - funnel.retention.rollupMs; t < end; t += R) {
      await put('r', t, rollPool[(i++ + p) % POOL]!, t + R + funnel.retention.rollupMs - end + DAY);
    }
    await pipe.exec();
  }
  return { keys: nKeys, fields: nFields };
}

/** Events of LIVE_ENTITIES entities entering over the last hour before `end`, by partition, in time order. */
function liveEvents(end: number): Map<string, FwEvent[]> {
  const byPartition = new Map<string, FwEvent[]>();
  for (let p = 0; p < PARTITIONS; p++) byPartition.set(String(p), []);
  const span = 60 * MIN;
  let n = 0;
  for (let i = 0; i < LIVE_ENTITIES; i++) {
    const entity = `chk_${i.toString(16).padStart(8, '0')}`;
    const part = String(i % PARTITIONS);
    const attrs: Record<string, string> = {};
    funnel.dimensions.forEach((d) => (attrs[d.name] = `${d.name}-${pickValue()}`));
    let t = end - span + Math.floor((i / LIVE_ENTITIES) * span);
    const list = byPartition.get(part)!;
    for (let s = 0; s < funnel.steps.length; s++) {
      if (s > 0) {
        if (rnd() > STEP_P[s]!) break;
        t += Math.min(logNormal(STEP_MEDIAN_MS[s]!), 10 * MIN);
      }
      list.push({ id: `ev${n++}`, type: funnel.steps[s]!.event, ts: t, entity, attrs });
    }
  }
  for (const list of byPartition.values()) list.sort((a, b) => a.ts - b.ts);
  return byPartition;
}

async function main(): Promise<void> {
  const server = await startRedisServer();
  const redis = new Redis(server.url, { maxRetriesPerRequest: 3 });
  try {
    const keys = new KeyLayout(PREFIX);
    const end = Date.UTC(2026, 10, 23, 14, 0, 0);
    const base = await usedMemory(redis);

    const t0 = performance.now();
    const hist = await writeHistory(redis, keys, end - 60 * MIN);
    const afterHistory = await usedMemory(redis);
    const historyBytes = afterHistory - base;
    const tHist = (performance.now() - t0) / 1000;

    const store = new RedisWindowStore({ redis, prefix: PREFIX });
    const t1 = performance.now();
    let events = 0;
    let entries = 0;
    for (const [part, list] of liveEvents(end)) {
      for (let i = 0; i < list.length; i += 2000) {
        const batch = list.slice(i, i + 2000);
        const res = await store.applyBatch({ funnel, partition: part, firstOffset: i, lastOffset: i + batch.length - 1, events: batch, now: end });
        if (res.status !== 'applied') throw new Error(`batch ${part}@${i} was refused`);
        events += batch.length;
        entries += res.counts.entries;
      }
    }
    const tLive = (performance.now() - t1) / 1000;
    const afterLive = await usedMemory(redis);

    // Exact size of the entity shards (SAMPLES 0 walks every field).
    let shardBytes = 0;
    let shardEntities = 0;
    let shardKeys = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const found = await redis.keys(`${keys.partitionBase(funnel.name, String(p))}e:*`);
      for (const k of found) {
        shardBytes += Number(await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0'));
        shardEntities += await redis.hlen(k);
        shardKeys++;
      }
    }
    const dbsize = await redis.dbsize();
    const bytesPerEntity = shardBytes / shardEntities;
    const mbHistory = historyBytes / 1048576;
    const liveDelta = afterLive - afterHistory;

    console.log('funnelwatch window store: memory benchmark');
    console.log(`  funnel: ${funnel.steps.length} steps, ${funnel.dimensions.length} dimensions × ${VALUES} values, ` +
      `${ENTRIES_PER_MIN} entries/min over ${PARTITIONS} partitions`);
    console.log(`  retention: fine ${funnel.bucketMs / 1000}s buckets × ${funnel.retention.fineMs / DAY} days, ` +
      `rollups ${funnel.retention.rollupBucketMs / MIN} min × ${funnel.retention.rollupMs / DAY} days`);
    console.log(`  history: ${hist.keys} bucket hashes, ${hist.fields} fields, written in ${tHist.toFixed(1)} s`);
    console.log(`    used_memory delta ${mb(historyBytes)} MB = ${mb(historyBytes / PARTITIONS)} MB per partition, ` +
      `${(historyBytes / hist.keys).toFixed(0)} B per hash, ${(historyBytes / hist.fields).toFixed(1)} B per field`);
    console.log(`  live entities: ${entries} entries (${events} events) through applyBatch in ${tLive.toFixed(1)} s ` +
      `(${Math.round(events / tLive)} events/s)`);
    console.log(`    entity shards: ${shardKeys} hashes holding ${shardEntities} entities, ${mb(shardBytes)} MB (MEMORY USAGE) ` +
      `= ${bytesPerEntity.toFixed(1)} B per live entity`);
    console.log(`    used_memory delta of the live load (shards + the hour of counters it wrote): ${mb(liveDelta)} MB = ` +
      `${(liveDelta / shardEntities).toFixed(1)} B per entity`);
    console.log(`  total: used_memory ${mb(afterLive)} MB, ${dbsize} keys`);
    console.log(`  targets: <= 200 B per live entity: ${bytesPerEntity <= 200 ? 'met' : 'MISSED'}; ` +
      `<= 100 MB history per funnel: ${mbHistory <= 100 ? 'met' : 'MISSED'}`);
    console.log(JSON.stringify({
      bytes_per_live_entity: Math.round(bytesPerEntity * 10) / 10,
      mb_per_funnel_history: Math.round(mbHistory * 10) / 10,
      partitions: PARTITIONS,
      mb_history_per_partition: Math.round((mbHistory / PARTITIONS) * 10) / 10,
      live_entities: shardEntities,
      history_hashes: hist.keys,
      history_fields: hist.fields,
      live_load_bytes_per_entity_used_memory: Math.round((liveDelta / shardEntities) * 10) / 10,
      apply_events_per_s: Math.round(events / tLive),
    }));
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
