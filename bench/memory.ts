/**
 * Memory benchmark of the Redis window store (issue 3): how many bytes one live entity costs and how many MB the
 * history of one realistic funnel takes.
 *
 * Load: 4 steps, 4 dimensions × 10 values, 1,000 entries per minute spread over PARTITIONS Kafka partitions,
 * 5 weeks of history with the default retention (fine 1-minute buckets for 3 days, 15-minute rollups for 35 days),
 * and 300,000 live entities.
 * - History is written as the buckets compaction leaves behind (funnel-level, summed over partitions), with the
 *   store's own key layout and field codes (src/windows/key-layout.ts), from simulated entities: replaying 50
 *   million events through Lua would take long and measure nothing more. Bucket contents come from a pool of
 *   simulated buckets per resolution.
 * - The hot tail (per-partition fine buckets not compacted yet: the seal delay plus a minute) is written the same
 *   way for 1, PARTITIONS, 8 and 32 partitions, to show how history per funnel changes with the partition count.
 *   `mb_per_funnel_history` = funnel-level history + the hot tail at PARTITIONS.
 * - Live entities go through the real path: RedisWindowStore.applyBatch, batches of 2,000 events per partition,
 *   then RedisWindowStore.compact() moves what they wrote into history (timed; totals checked unchanged).
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
import {
  dimCohortField,
  dimVolumeField,
  hotKeepMs,
  KeyLayout,
  sealDelayMs,
  totalField,
  TotalKind,
} from '../src/windows/key-layout.js';
import { RedisWindowStore } from '../src/windows/redis-window-store.js';
import { mulberry32 } from '../src/core/prng.js';

const PARTITIONS = Number(process.env.PARTITIONS ?? 4);
/** Partition counts whose hot tail is measured too, to show history per funnel does not grow with partitions. */
const SWEEP = [...new Set([1, PARTITIONS, 8, 32])].sort((a, b) => a - b);
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

const rnd = mulberry32(42); // seeded so runs are comparable
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

/** One simulated bucket: group → field → count, as applyBatch would leave it for `entries` entries. */
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

/** Writes `buckets` as HSET + PEXPIRE through a pipeline; returns hashes and fields written. */
async function putBuckets(
  redis: Redis,
  items: { key: (group: string) => string; bucket: Map<string, Map<number, number>>; ttl: number }[],
): Promise<{ keys: number; fields: number }> {
  let nKeys = 0;
  let nFields = 0;
  let pipe = redis.pipeline();
  let queued = 0;
  for (const it of items) {
    for (const [g, fields] of it.bucket) {
      const args: (string | number)[] = [];
      for (const [f, n] of fields) args.push(f, n);
      pipe.hset(it.key(g), ...args);
      pipe.pexpire(it.key(g), it.ttl);
      nKeys++;
      nFields += fields.size;
      queued += 2;
    }
    if (queued > 4000) {
      await pipe.exec();
      pipe = redis.pipeline();
      queued = 0;
    }
  }
  await pipe.exec();
  return { keys: nKeys, fields: nFields };
}

/**
 * Funnel-level history as compaction leaves it (lua/compact-1.lua): ONE fine bucket per minute for 3 days and one
 * rollup per 15 minutes for 5 weeks, each the sum over all partitions (1,000 entries a minute), with the TTLs
 * compaction gives them. Independent of the partition count by construction: that is the point of compaction.
 */
async function writeHistory(redis: Redis, keys: KeyLayout, end: number): Promise<{ keys: number; fields: number }> {
  const R = funnel.retention.rollupBucketMs;
  const POOL = 24;
  const finePool = Array.from({ length: POOL }, () => simulateBucket(ENTRIES_PER_MIN));
  const rollPool = Array.from({ length: POOL }, () => simulateBucket(Math.round((ENTRIES_PER_MIN * R) / MIN)));
  const items: Parameters<typeof putBuckets>[1] = [];
  let i = 0;
  for (let t = end - funnel.retention.fineMs; t < end; t += funnel.bucketMs) {
    const start = t;
    items.push({
      key: (g) => keys.historyBucket(funnel.name, 'f', start, g),
      bucket: finePool[i++ % POOL]!,
      ttl: t + funnel.bucketMs + funnel.retention.fineMs - end,
    });
  }
  for (let t = end - funnel.retention.rollupMs; t < end; t += R) {
    const start = t;
    items.push({
      key: (g) => keys.historyBucket(funnel.name, 'r', start, g),
      bucket: rollPool[i++ % POOL]!,
      ttl: t + R + funnel.retention.rollupMs - end,
    });
  }
  return putBuckets(redis, items);
}

/** Fine buckets not compacted yet: the seal delay plus one compaction interval (a minute). */
const HOT_TAIL_BUCKETS = Math.ceil(sealDelayMs(funnel) / funnel.bucketMs) + 1;

/**
 * The hot staging area in steady state: per partition, the last HOT_TAIL_BUCKETS fine buckets (compaction deletes
 * older ones), each holding that partition's share of the load. Written under its own funnel name per partition
 * count so the figures do not mix.
 */
async function writeHotTail(
  redis: Redis,
  keys: KeyLayout,
  name: string,
  partitions: number,
  end: number,
): Promise<{ keys: number; fields: number }> {
  const POOL = 24;
  const pool = Array.from({ length: POOL }, () => simulateBucket(Math.round(ENTRIES_PER_MIN / partitions)));
  const items: Parameters<typeof putBuckets>[1] = [];
  let i = 0;
  for (let p = 0; p < partitions; p++) {
    for (let b = 0; b < HOT_TAIL_BUCKETS; b++) {
      const start = end - (b + 1) * funnel.bucketMs;
      items.push({
        key: (g) => keys.bucket(name, String(p), 'f', start, g),
        bucket: pool[i++ % POOL]!,
        ttl: hotKeepMs(funnel),
      });
    }
  }
  return putBuckets(redis, items);
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

/** CPU time (user + sys) the redis-server process used so far, in µs (INFO cpu). */
async function redisCpuUs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const num = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (num('used_cpu_user') + num('used_cpu_sys')) * 1e6;
}

async function main(): Promise<void> {
  const server = await startRedisServer();
  const redis = new Redis(server.url, { maxRetriesPerRequest: 3 });
  try {
    const keys = new KeyLayout(PREFIX);
    const end = Date.UTC(2026, 10, 23, 14, 0, 0);

    // 1. Funnel-level history (what compaction leaves), the same whatever the partition count.
    const base = await usedMemory(redis);
    const t0 = performance.now();
    const hist = await writeHistory(redis, keys, end - 60 * MIN);
    // The compaction marker that history implies: compacted and sealed up to its end (the live hour follows it).
    await redis.hset(keys.compaction(funnel.name), 'c', end - 60 * MIN, 's', end - 60 * MIN);
    await redis.pexpire(keys.compaction(funnel.name), funnel.retention.rollupMs + DAY);
    const historyBytes = (await usedMemory(redis)) - base;
    const tHist = (performance.now() - t0) / 1000;

    // 2. The hot tail per partition count (compaction keeps it at the seal delay).
    const hot = new Map<number, { bytes: number; keys: number }>();
    for (const n of SWEEP) {
      const before = await usedMemory(redis);
      const w = await writeHotTail(redis, keys, `hot${n}`, n, end);
      hot.set(n, { bytes: (await usedMemory(redis)) - before, keys: w.keys });
    }
    const hotMain = hot.get(PARTITIONS) ?? { bytes: 0, keys: 0 };
    const afterHistory = await usedMemory(redis);

    // 3. Live entities through the real path (applyBatch), then the real compaction of what they wrote.
    const store = new RedisWindowStore({ redis, prefix: PREFIX });
    const cpu0 = await redisCpuUs(redis);
    const self0 = process.cpuUsage();
    const t1 = performance.now();
    let events = 0;
    let entries = 0;
    for (const [part, list] of liveEvents(end)) {
      for (let i = 0; i < list.length; i += 2000) {
        const batch = list.slice(i, i + 2000);
        const res = await store.applyBatch({
          funnel,
          partition: part,
          firstOffset: i,
          lastOffset: i + batch.length - 1,
          events: batch,
          now: end,
        });
        if (res.status !== 'applied') throw new Error(`batch ${part}@${i} was refused`);
        events += batch.length;
        entries += res.counts.entries;
      }
    }
    const tLive = (performance.now() - t1) / 1000;
    const redisCpuPerEvent = ((await redisCpuUs(redis)) - cpu0) / events;
    const self1 = process.cpuUsage(self0);
    const clientCpuPerEvent = (self1.user + self1.system) / events;
    const afterLive = await usedMemory(redis);
    const totalsBefore = await store.stepTotals({ funnel, from: end - 2 * 60 * MIN, to: end + 60 * MIN });
    const t2 = performance.now();
    const compacted = await store.compact(funnel);
    const tCompact = (performance.now() - t2) / 1000;
    const totalsAfter = await store.stepTotals({ funnel, from: end - 2 * 60 * MIN, to: end + 60 * MIN });
    if (JSON.stringify(totalsBefore) !== JSON.stringify(totalsAfter)) throw new Error('compaction changed the totals');
    let liveHotLeft = 0;
    for (let p = 0; p < PARTITIONS; p++)
      liveHotLeft += (await redis.keys(`${keys.partitionBase(funnel.name, String(p))}f:*`)).length;

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
    const mbOf = (n: number) => Math.round((n / 1048576) * 10) / 10;
    const perPartitions = Object.fromEntries([...hot].map(([n, h]) => [n, mbOf(historyBytes + h.bytes)]));
    const mbHistory = (historyBytes + hotMain.bytes) / 1048576;
    const liveDelta = afterLive - afterHistory;
    const hotPerBucketPartition = hotMain.bytes / (PARTITIONS * HOT_TAIL_BUCKETS);

    console.log('funnelwatch window store: memory benchmark');
    console.log(
      `  funnel: ${funnel.steps.length} steps, ${funnel.dimensions.length} dimensions × ${VALUES} values, ` +
        `${ENTRIES_PER_MIN} entries/min over ${PARTITIONS} partitions`,
    );
    console.log(
      `  retention: fine ${funnel.bucketMs / 1000}s buckets × ${funnel.retention.fineMs / DAY} days, ` +
        `rollups ${funnel.retention.rollupBucketMs / MIN} min × ${funnel.retention.rollupMs / DAY} days`,
    );
    console.log(
      `  funnel-level history (compacted, any partition count): ${hist.keys} bucket hashes, ${hist.fields} fields, ` +
        `written in ${tHist.toFixed(1)} s`,
    );
    console.log(
      `    used_memory delta ${mb(historyBytes)} MB, ${(historyBytes / hist.keys).toFixed(0)} B per hash, ` +
        `${(historyBytes / hist.fields).toFixed(1)} B per field`,
    );
    console.log(`  hot tail (last ${HOT_TAIL_BUCKETS} fine buckets per partition, not compacted yet):`);
    for (const [n, h] of hot) {
      console.log(
        `    ${String(n).padStart(2)} partitions: ${mb(h.bytes)} MB hot (${h.keys} hashes) → ` +
          `${mb(historyBytes + h.bytes)} MB history per funnel`,
      );
    }
    console.log(
      `    if compaction stopped, hot buckets live ${hotKeepMs(funnel) / 3_600_000} h: at most ` +
        `${mb(hotPerBucketPartition * PARTITIONS * (hotKeepMs(funnel) / funnel.bucketMs))} MB more at ` +
        `${PARTITIONS} partitions`,
    );
    console.log(
      `  live entities: ${entries} entries (${events} events) through applyBatch in ${tLive.toFixed(1)} s ` +
        `(${Math.round(events / tLive)} events/s; redis-server CPU ${redisCpuPerEvent.toFixed(1)} µs/event, ` +
        `this process ${clientCpuPerEvent.toFixed(1)} µs/event)`,
    );
    console.log(
      `    entity shards: ${shardKeys} hashes holding ${shardEntities} entities, ${mb(shardBytes)} MB (MEMORY USAGE) ` +
        `= ${bytesPerEntity.toFixed(1)} B per live entity`,
    );
    console.log(
      `    used_memory delta of the live load (shards + the hour of hot counters it wrote): ${mb(liveDelta)} MB = ` +
        `${(liveDelta / shardEntities).toFixed(1)} B per entity`,
    );
    console.log(
      `    compact() of that hour: ${compacted.buckets} buckets into history in ${tCompact.toFixed(2)} s, ` +
        `${liveHotLeft} hot hashes left (the unsealed tail); totals identical before and after`,
    );
    console.log(`  total: used_memory ${mb(await usedMemory(redis))} MB, ${dbsize} keys`);
    console.log(
      `  targets: <= 200 B per live entity: ${bytesPerEntity <= 200 ? 'met' : 'MISSED'}; ` +
        `<= 100 MB history per funnel: ${mbHistory <= 100 ? 'met' : 'MISSED'}`,
    );
    console.log(
      JSON.stringify({
        bytes_per_live_entity: Math.round(bytesPerEntity * 10) / 10,
        mb_per_funnel_history: Math.round(mbHistory * 10) / 10,
        partitions: PARTITIONS,
        mb_history_funnel_level: mbOf(historyBytes),
        mb_hot_tail: mbOf(hotMain.bytes),
        mb_per_funnel_history_by_partitions: perPartitions,
        live_entities: shardEntities,
        history_hashes: hist.keys,
        history_fields: hist.fields,
        live_load_bytes_per_entity_used_memory: Math.round((liveDelta / shardEntities) * 10) / 10,
        apply_events_per_s: Math.round(events / tLive),
        apply_redis_cpu_us_per_event: Math.round(redisCpuPerEvent * 10) / 10,
        apply_client_cpu_us_per_event: Math.round(clientCpuPerEvent * 10) / 10,
        compact_buckets: compacted.buckets,
        compact_s: Math.round(tCompact * 100) / 100,
      }),
    );
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
