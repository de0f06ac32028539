/**
 * Exactly-once, as a property: a random event stream over two partitions, cut into random batches, applied in a
 * random interleaving with replays of batches already applied (and overlapping re-deliveries), and with compactions
 * in between (partial ones, and two stores compacting at once), must leave exactly the counts the reference model
 * computes from the stream itself, before and after a final full compaction, on standalone Redis and on Redis
 * Cluster. The model treats writes into sealed buckets as late just as the store does.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { FwEvent } from '../../../src/events/event.js';
import { RedisWindowStore } from '../../../src/windows/redis-window-store.js';
import type { RedisLike } from '../../../src/windows/lua-scripts.js';
import { redisClient, redisClusterClient, uniquePrefix } from '../../support/env.js';
import { ReferenceModel } from './reference-model.js';
import { checkoutFunnel, T0 } from './fixtures.js';
import { windowQueries } from '../../support/window-queries.js';

const funnel = checkoutFunnel({
  name: 'prop',
  conversionWindowMs: 20_000,
  allowedLatenessMs: 5_000,
  bucketMs: 1_000,
  retention: { fineMs: 86_400_000, rollupBucketMs: 5_000, rollupMs: 2 * 86_400_000 },
  dimensions: [
    { name: 'platform', maxValues: 2 },
    { name: 'region', maxValues: 1 },
  ],
});

const TYPES = ['checkout_started', 'payment_submitted', 'order_completed', 'order_completed', 'page_view'];

const eventArb = fc.record({
  partition: fc.constantFrom('0', '1'),
  entity: fc.constantFrom('e1', 'e2', 'e3', 'e4', 'e5', ''),
  kind: fc.nat({ max: TYPES.length - 1 }),
  jitter: fc.integer({ min: -9_000, max: 3_000 }),
  gap: fc.integer({ min: 0, max: 1_500 }),
  platform: fc.constantFrom('ios', 'web', 'android', undefined),
  region: fc.constantFrom('eu', 'us', undefined),
});

const scenarioArb = fc.record({
  // At least ~30 s of event time: sealing starts 27 s (lateness + window + 2 buckets) behind the newest event.
  events: fc.array(eventArb, { minLength: 40, maxLength: 80, size: 'max' }),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30, size: 'max' }),
  order: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
  replays: fc.array(fc.nat({ max: 100 }), { maxLength: 40, size: 'max' }),
  // After each batch: 0 compact a few buckets, 1 two stores compact at once, else nothing.
  compactions: fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 40, size: 'max' }),
  // Partition 1 trails partition 0 by this much event time (instead of the random order), so it meets sealed
  // buckets; between 7 s and the 27 s seal delay its entities can enter before a seal and convert after it, which
  // are the late cohort increments.
  lag: fc.option(fc.integer({ min: 8_000, max: 26_000 }), { freq: 2 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function buildStream(s: Scenario): Map<string, FwEvent[]> {
  const byPartition = new Map<string, FwEvent[]>([
    ['0', []],
    ['1', []],
  ]);
  let clock = T0;
  s.events.forEach((e, i) => {
    clock += e.gap;
    const kind = e.kind;
    const attrs: Record<string, string> = {};
    if (e.platform) attrs.platform = e.platform;
    if (e.region) attrs.region = e.region;
    // kind 2 is a paid order (step 2); kind 3 an unpaid one, which the step filter rejects.
    if (kind === 2) attrs.status = 'paid';
    if (kind === 3) attrs.status = 'failed';
    byPartition
      .get(e.partition)!
      .push({ id: `x${i}`, type: TYPES[kind]!, ts: clock + e.jitter, entity: e.entity, attrs });
  });
  return byPartition;
}

function cutBatches(events: FwEvent[], cuts: number[]): { first: number; last: number }[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * events.length)))]
    .filter((p) => p > 0 && p < events.length)
    .sort((a, b) => a - b);
  const out: { first: number; last: number }[] = [];
  let start = 0;
  for (const p of [...points, events.length]) {
    if (p > start) out.push({ first: start, last: p - 1 });
    start = p;
  }
  return out;
}

/** How often each case occurred over all runs, so the test proves it exercised them, not just passed. */
type Seen = Record<
  | 'late'
  | 'duplicates'
  | 'outOfOrder'
  | 'noEntry'
  | 'expired'
  | 'replays'
  | 'capped'
  | 'sealedLate'
  | 'lateCohort'
  | 'compacted'
  | 'concurrent',
  number
>;

async function runScenario(redis: RedisLike, s: Scenario, seen: Seen): Promise<void> {
  const prefix = uniquePrefix();
  const store = new RedisWindowStore({ redis, prefix });
  // A second replica: it only compacts, racing the first.
  const replica = new RedisWindowStore({ redis, prefix });
  const model = new ReferenceModel(funnel);
  const stream = buildStream(s);
  // A steady lag needs small batches: one batch spanning many seconds would move the funnel's event time in jumps.
  const cutsOf = (evs: FwEvent[]) =>
    s.lag !== null ? evs.map((_, i) => (i + 0.5) / evs.length).filter((_, i) => i % 2 === 1) : s.cuts;
  const queues = new Map([...stream].map(([p, evs]) => [p, cutBatches(evs, cutsOf(evs))]));
  const applied = new Map<string, { first: number; last: number }[]>([
    ['0', []],
    ['1', []],
  ]);
  let turn = 0;
  let replay = 0;
  const now = T0;
  while ([...queues.values()].some((q) => q.length > 0)) {
    const head = (p: string) => {
      const q = queues.get(p)![0];
      return q ? stream.get(p)![q.first]!.ts : Infinity;
    };
    const pick = (s.lag !== null ? head('0') < head('1') + s.lag : s.order[turn % s.order.length]) ? '0' : '1';
    turn++;
    const p = queues.get(pick)!.length > 0 ? pick : pick === '0' ? '1' : '0';
    const b = queues.get(p)!.shift()!;
    const evs = stream.get(p)!;
    const res = await store.applyBatch({
      funnel,
      partition: p,
      firstOffset: b.first,
      lastOffset: b.last,
      events: evs.slice(b.first, b.last + 1),
      now,
    });
    expect(res.status).toBe('applied');
    model.applyBatch(p, evs.slice(b.first, b.last + 1));
    applied.get(p)!.push(b);
    // Redeliveries: an earlier batch again, or one that starts inside what was applied and runs past it.
    const r = s.replays[replay++];
    if (r !== undefined && r % 3 !== 0) {
      const done = applied.get(p)!;
      const old = done[r % done.length]!;
      const last = r % 3 === 2 ? Math.min(evs.length - 1, old.last + 2) : old.last;
      const again = await store.applyBatch({
        funnel,
        partition: p,
        firstOffset: old.first,
        lastOffset: last,
        events: evs.slice(old.first, last + 1),
        now,
      });
      expect(again).toEqual({ status: 'duplicate', storedOffset: b.last });
      seen.replays++;
    }
    const c = s.compactions[turn % s.compactions.length]!;
    // Lagging runs compact more often: a lagging partition only meets sealed buckets if a compaction ran meanwhile.
    const mode = s.lag !== null ? c % 3 : c % 10;
    if (mode === 0) {
      const res = await store.compact(funnel, { maxBuckets: 1 + (c % 7) });
      model.seal(res.sealedUpTo);
      seen.compacted += res.buckets;
    } else if (mode === 1) {
      const [x, y] = await Promise.all([store.compact(funnel), replica.compact(funnel, { maxBuckets: 3 })]);
      model.seal(x.sealedUpTo);
      model.seal(y.sealedUpTo);
      seen.concurrent++;
      seen.compacted += x.buckets + y.buckets;
    }
  }
  await expectModel(store, model, seen);
  // Everything sealable into history: the same answers.
  const last = await replica.compact(funnel);
  model.seal(last.sealedUpTo);
  await expectModel(store, model, undefined);
}

async function expectModel(store: RedisWindowStore, model: ReferenceModel, seen: Seen | undefined): Promise<void> {
  const q = { funnel, from: T0 - 60_000, to: T0 + 400_000 };
  const c = model.counts;
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  if (seen) {
    seen.late += c.late;
    seen.sealedLate += c.sealedLate;
    seen.lateCohort += c.lateCohort;
    seen.duplicates += sum(c.duplicates);
    seen.outOfOrder += sum(c.outOfOrder);
    seen.noEntry += sum(c.noEntry);
    seen.expired += sum(c.expired);
    seen.capped += [...c.dimVolume.keys()].filter((k) => k.endsWith('=other')).length;
  }
  const totals = await store.stepTotals(q);
  expect({
    volume: totals.volume,
    duplicates: totals.duplicates,
    outOfOrder: totals.outOfOrder,
    noEntry: totals.noEntry,
    expired: totals.expired,
  }).toEqual({
    volume: c.volume,
    duplicates: c.duplicates,
    outOfOrder: c.outOfOrder,
    noEntry: c.noEntry,
    expired: c.expired,
  });
  const cohort = await windowQueries(store).cohortConversion({ ...q, asOf: T0 + 400_000, dimension: 'platform' });
  expect(cohort.reached).toEqual(c.cohort);
  const counters = await windowQueries(store).counters(funnel);
  expect(counters.lateDropped).toBe(c.late);
  expect(counters.lateCohort).toBe(c.lateCohort);
  expect(counters.unmatched).toBe(c.unmatched);
  for (const d of funnel.dimensions) {
    const dv = await windowQueries(store).dimensionVolume({ ...q, dimension: d.name });
    const expected: Record<string, number[]> = {};
    for (const [k, row] of c.dimVolume) if (k.startsWith(`${d.name}=`)) expected[k.slice(d.name.length + 1)] = row;
    expect(dv.values).toEqual(expected);
  }
  const expectedCohort: Record<string, number[]> = {};
  for (const [k, row] of c.dimCohort) if (k.startsWith('platform=')) expectedCohort[k.slice('platform='.length)] = row;
  const gotCohort: Record<string, number[]> = {};
  for (const [v, cc] of Object.entries(cohort.byValue ?? {})) gotCohort[v] = cc.reached;
  expect(gotCohort).toEqual(expectedCohort);
  for (const step of [1, 2]) {
    const d = await windowQueries(store).durations({ ...q, step });
    expect(new Map(Object.entries(d.histogram).map(([k, v]) => [Number(k), v]))).toEqual(
      c.durations.get(step) ?? new Map(),
    );
  }
}

// Runs per client: every case in `Seen` must occur. The rarest, a late cohort increment, never occurred in 1 of 13
// repeats of this file with 40 Cluster runs (2026-11-23): a red CI run with nothing wrong. That rate means it comes
// up in roughly 6 % of scenarios, so 120 runs miss it about once in 2,000 repeats.
describe.each([
  ['standalone Redis', () => redisClient() as RedisLike, 150],
  ['Redis Cluster', () => redisClusterClient() as RedisLike, 120],
] as const)('window store exactly-once property on %s', (_label, client, runs) => {
  it('random batch splits with replays give exactly the counts of the stream', async () => {
    const redis = client();
    const seen: Seen = {
      late: 0,
      duplicates: 0,
      outOfOrder: 0,
      noEntry: 0,
      expired: 0,
      replays: 0,
      capped: 0,
      sealedLate: 0,
      lateCohort: 0,
      compacted: 0,
      concurrent: 0,
    };
    await fc.assert(
      fc.asyncProperty(scenarioArb, (s) => runScenario(redis, s, seen)),
      { numRuns: runs },
    );
    for (const [what, n] of Object.entries(seen)) expect(n, `${what} never occurred`).toBeGreaterThan(0);
  });
});
