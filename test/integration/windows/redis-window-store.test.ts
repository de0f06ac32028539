/**
 * The Redis window store against the real test Redis, the same tests on standalone Redis and on the 3-node Redis
 * Cluster: counts, ratio and cohort conversion, durations, dimension caps, rollups, retention TTLs, late events and
 * refusal of an already-applied offset; sealing (late writes into sealed buckets) and compaction into funnel-level
 * history (the same answers before and after, each bucket moved once even with two compacting stores).
 */
import { describe, it, expect } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import { RedisWindowStore } from '../../../src/windows/redis-window-store.js';
import { callWindowCommand, interpretReadStateReply, type RedisLike } from '../../../src/windows/lua-scripts.js';
import { exactPercentile, DURATION_RELATIVE_ERROR } from '../../../src/windows/histogram.js';
import { hotKeepMs, KeyLayout } from '../../../src/windows/key-layout.js';
import { FwError } from '../../../src/core/errors.js';
import { redisClient, redisClusterClient, uniquePrefix } from '../../support/env.js';
import { checkoutFunnel, ev, MIN, T0 } from './fixtures.js';
import { windowQueries } from '../../support/window-queries.js';

/** Every key under a prefix, on every master (a Cluster spreads partitions over nodes). */
async function keysUnder(redis: RedisLike, prefix: string): Promise<string[]> {
  const nodes: Redis[] =
    'nodes' in redis && typeof (redis as Cluster).nodes === 'function' && (redis as Cluster).isCluster
      ? (redis as Cluster).nodes('master')
      : [redis as Redis];
  const out: string[] = [];
  for (const n of nodes) out.push(...(await n.keys(`${prefix}:*`)));
  return out.sort();
}

describe.each([
  ['standalone Redis', () => redisClient() as RedisLike],
  ['Redis Cluster', () => redisClusterClient() as RedisLike],
] as const)('RedisWindowStore on %s', (_label, client) => {
  const prefixes = new WeakMap<RedisWindowStore, string>();
  function setup(overrides = {}) {
    const redis = client();
    const prefix = uniquePrefix();
    const store = new RedisWindowStore({ redis, prefix });
    prefixes.set(store, prefix);
    return { redis, prefix, store, funnel: checkoutFunnel(overrides) };
  }
  const setupPrefix = (store: RedisWindowStore) => prefixes.get(store)!;

  it(
    'two writers racing on one partition: ' + "the loser of a commit reads again and computes from the winner's state",
    async () => {
      const { redis, prefix, funnel } = setup();
      const a = new RedisWindowStore({ redis, prefix });
      const b = new RedisWindowStore({ redis, prefix });
      // b's batch follows a's in the partition; both read before either commits, so one commit meets a conflict.
      const batchA = [ev(0, 'r1', T0 + 1000), ev(0, 'r2', T0 + 2000)];
      const batchB = [ev(1, 'r1', T0 + 3000), ev(1, 'r2', T0 + 4000), ev(0, 'r3', T0 + 5000)];
      const [ra, rb] = await Promise.all([
        a.applyBatch({ funnel, partition: '0', firstOffset: 0, lastOffset: 1, events: batchA, now: T0 }),
        b.applyBatch({ funnel, partition: '0', firstOffset: 2, lastOffset: 4, events: batchB, now: T0 }),
      ]);
      expect(rb).toMatchObject({ status: 'applied', storedOffset: 4 });
      const totals = await a.stepTotals({ funnel, from: T0, to: T0 + MIN });
      if (ra.status === 'applied') {
        // a committed first (or b met a's commit and recomputed): b's steps found a's entries.
        expect(rb.status === 'applied' && rb.counts).toMatchObject({ steps: 2, noEntry: 0, entries: 1 });
        expect(totals.volume).toEqual([3, 2, 0]);
      } else {
        // b committed first: a's batch is below the stored offset now, refused; b's steps had no entry.
        expect(ra).toEqual({ status: 'duplicate', storedOffset: 4 });
        expect(totals.noEntry).toEqual([0, 2, 0]);
      }
    },
  );

  it('counts step volume per bucket and refuses a batch at or below the stored offset', async () => {
    const { store, funnel } = setup();
    const batch = [
      ev(0, 'a', T0 + 1000),
      ev(0, 'b', T0 + 2000),
      ev(1, 'a', T0 + MIN + 5),
      ev(2, 'a', T0 + 2 * MIN),
      ev(2, 'b', T0 + 2 * MIN + 1, { status: 'failed' }),
      { ...ev(0, 'x', T0), type: 'page_view' },
    ];
    const first = await store.applyBatch({
      funnel,
      partition: '3',
      firstOffset: 10,
      lastOffset: 15,
      events: batch,
      now: T0,
    });
    expect(first).toMatchObject({
      status: 'applied',
      storedOffset: 15,
      watermark: T0 + 2 * MIN,
      counts: { events: 6, unmatched: 2, matched: 4, entries: 2, steps: 2, lateDropped: 0, duplicates: 0 },
    });

    // Redelivery of the same batch, and of a batch overlapping it: refused, nothing applied.
    expect(
      await store.applyBatch({ funnel, partition: '3', firstOffset: 10, lastOffset: 15, events: batch, now: T0 }),
    ).toEqual({ status: 'duplicate', storedOffset: 15 });
    expect(
      await store.applyBatch({
        funnel,
        partition: '3',
        firstOffset: 15,
        lastOffset: 16,
        events: [ev(0, 'c', T0)],
        now: T0,
      }),
    ).toEqual({ status: 'duplicate', storedOffset: 15 });

    const series = await windowQueries(store).stepVolume({ funnel, from: T0, to: T0 + 3 * MIN });
    expect(series.buckets).toEqual([
      { start: T0, steps: [2, 0, 0] },
      { start: T0 + MIN, steps: [0, 1, 0] },
      { start: T0 + 2 * MIN, steps: [0, 0, 1] },
    ]);
    expect(await store.getOffsets(funnel, ['3', '4'])).toEqual(
      new Map([
        ['3', 15],
        ['4', undefined],
      ]),
    );
    expect(await store.getWatermarks(funnel)).toEqual(new Map([['3', T0 + 2 * MIN]]));
    expect(await store.partitions(funnel)).toEqual(['3']);
    expect((await windowQueries(store).counters(funnel)).unmatched).toBe(2);
  });

  it(
    'applies entity ids with lone surrogates and other odd Unicode ' + '(the packed commit must not choke on them)',
    async () => {
      const { store, funnel } = setup();
      const odd = ['\ud800', 'x\udfffy', '😀\u0000', 'ünï\u2028cödé', '"\\'];
      const batch = odd.flatMap((e, i) => [ev(0, e, T0 + 1000 + i), ev(1, e, T0 + MIN + i)]);
      const res = await store.applyBatch({
        funnel,
        partition: '0',
        firstOffset: 0,
        lastOffset: batch.length - 1,
        events: batch,
        now: T0,
      });
      expect(res).toMatchObject({ status: 'applied', counts: { entries: 5, steps: 5, noEntry: 0 } });
      // The step of each id found its entry: the stored state is keyed by the same (UTF-8) id the lookup used.
      const later = odd.map((e, i) => ev(2, e, T0 + 2 * MIN + i));
      expect(
        await store.applyBatch({
          funnel,
          partition: '0',
          firstOffset: batch.length,
          lastOffset: batch.length + 4,
          events: later,
          now: T0,
        }),
      ).toMatchObject({ status: 'applied', counts: { steps: 5, noEntry: 0, duplicates: 0 } });
      expect((await store.stepTotals({ funnel, from: T0, to: T0 + 3 * MIN })).volume).toEqual([5, 5, 5]);
    },
  );
  it('aggregates volumes, ratio and cohort conversion across partitions', async () => {
    const { store, funnel } = setup();
    // Partition 0: a converts fully, b pays only. Partition http: c converts fully, d only enters.
    await store.applyBatch({
      funnel,
      partition: '0',
      firstOffset: 0,
      lastOffset: 4,
      now: T0,
      events: [
        ev(0, 'a', T0),
        ev(0, 'b', T0 + 10),
        ev(1, 'a', T0 + MIN),
        ev(1, 'b', T0 + MIN),
        ev(2, 'a', T0 + 2 * MIN),
      ],
    });
    await store.applyBatch({
      funnel,
      partition: 'http',
      firstOffset: 0,
      lastOffset: 3,
      now: T0,
      events: [
        ev(0, 'c', T0 + 20 * MIN),
        ev(0, 'd', T0 + 20 * MIN),
        ev(1, 'c', T0 + 21 * MIN),
        ev(2, 'c', T0 + 25 * MIN),
      ],
    });

    const totals = await store.stepTotals({ funnel, from: T0, to: T0 + 60 * MIN });
    expect(totals.volume).toEqual([4, 3, 2]);
    const r = await windowQueries(store).ratioConversion({
      funnel,
      from: T0,
      to: T0 + 60 * MIN,
      fromStep: 1,
      toStep: 2,
    });
    expect(r).toMatchObject({ denominator: 3, numerator: 2 });
    expect(r.ratio).toBeCloseTo(2 / 3);

    // As of T0+40m the first cohort minute (entries a, b) has closed its 30 m window; c and d are still young.
    const cohort = await windowQueries(store).cohortConversion({
      funnel,
      from: T0,
      to: T0 + 30 * MIN,
      asOf: T0 + 40 * MIN,
    });
    expect(cohort).toMatchObject({
      entered: 4,
      reached: [4, 3, 2],
      young: 2,
      matureEntered: 2,
      matureReached: [2, 2, 1],
    });
  });

  it(
    'handles and counts a repeated step, steps out of order, ' +
      'a step with no entry, an expired step and late events',
    async () => {
      const { store, funnel } = setup();
      const res = await store.applyBatch({
        funnel,
        partition: '1',
        firstOffset: 0,
        lastOffset: 9,
        now: T0,
        events: [
          ev(0, 'a', T0),
          ev(0, 'a', T0 + 1000), // duplicate entry
          ev(2, 'a', T0 + MIN),
          ev(1, 'a', T0 + 2 * MIN), // order before payment: payment is out of order
          ev(1, 'a', T0 + 3 * MIN), // payment twice
          ev(1, 'ghost', T0 + 3 * MIN), // no entry
          ev(0, 'slow', T0 + 4 * MIN),
          ev(1, 'slow', T0 + 40 * MIN), // 36 m after entry: expired
          ev(0, 'late', T0 + 30 * MIN), // 10 m behind the 40 m watermark, lateness is 5 m
          ev(0, 'ok', T0 + 36 * MIN), // 4 m behind: still applied
        ],
      });
      expect(res).toMatchObject({
        status: 'applied',
        counts: {
          matched: 10,
          entries: 3,
          steps: 2,
          duplicates: 2,
          outOfOrder: 1,
          noEntry: 1,
          expired: 1,
          lateDropped: 1,
        },
      });
      const totals = await store.stepTotals({ funnel, from: T0, to: T0 + 60 * MIN });
      expect(totals).toMatchObject({
        volume: [3, 3, 1],
        duplicates: [1, 1, 0],
        outOfOrder: [0, 1, 0],
        noEntry: [0, 1, 0],
        expired: [0, 1, 0],
      });
      const cohort = await windowQueries(store).cohortConversion({
        funnel,
        from: T0,
        to: T0 + 60 * MIN,
        asOf: T0 + 60 * MIN,
      });
      expect(cohort.reached).toEqual([3, 1, 1]);
      expect(await windowQueries(store).counters(funnel)).toMatchObject({
        lateDropped: 1,
        duplicates: 2,
        outOfOrder: 1,
        noEntry: 1,
        expired: 1,
      });
      // A later batch can still complete 'ok' but never the dropped 'late' entity's entry.
      await store.applyBatch({
        funnel,
        partition: '1',
        firstOffset: 10,
        lastOffset: 10,
        now: T0,
        events: [ev(1, 'late', T0 + 41 * MIN)],
      });
      expect((await store.stepTotals({ funnel, from: T0, to: T0 + 60 * MIN })).noEntry).toEqual([0, 2, 0]);
    },
  );

  it('caps each dimension to its first maxValues values plus other, the same on every partition', async () => {
    const { store, funnel } = setup();
    const p = (platform: string | undefined, i: number) =>
      ev(0, `u${i}`, T0 + i, platform ? { platform, region: 'eu' } : {});
    await store.applyBatch({
      funnel,
      partition: '0',
      firstOffset: 0,
      lastOffset: 2,
      now: T0,
      events: [p('ios', 0), p('web', 1), p('android', 2)],
    });
    await store.applyBatch({
      funnel,
      partition: '1',
      firstOffset: 0,
      lastOffset: 3,
      now: T0,
      events: [p('android', 3), p('ios', 4), p('tv', 5), p(undefined, 6)],
    });
    await store.applyBatch({
      funnel,
      partition: '1',
      firstOffset: 4,
      lastOffset: 5,
      now: T0,
      events: [ev(1, 'u4', T0 + MIN, { platform: 'web' }), ev(1, 'u0', T0 + MIN)],
    });
    const dv = await windowQueries(store).dimensionVolume({
      funnel,
      from: T0,
      to: T0 + 10 * MIN,
      dimension: 'platform',
    });
    expect(dv.values).toEqual({ ios: [2, 0, 0], web: [1, 1, 0], other: [3, 0, 0], '(none)': [1, 1, 0] });
    const r = await windowQueries(store).ratioConversion({
      funnel,
      from: T0,
      to: T0 + 10 * MIN,
      fromStep: 0,
      toStep: 1,
      dimension: 'platform',
    });
    expect(r.byValue!.web).toEqual({ denominator: 1, numerator: 1, ratio: 1 });
    // Cohort by dimension uses the ENTRY value: u4 entered on ios and paid (its payment event said web).
    const cohort = await windowQueries(store).cohortConversion({
      funnel,
      from: T0,
      to: T0 + 10 * MIN,
      asOf: T0,
      dimension: 'platform',
    });
    expect(cohort.byValue!.ios!.reached).toEqual([2, 1, 0]);
    expect(cohort.byValue!.web!.reached).toEqual([1, 0, 0]);
    expect(cohort.byValue!.ios!.young).toBe(2);
    await expect(
      windowQueries(store).dimensionVolume({ funnel, from: T0, to: T0 + MIN, dimension: 'nope' }),
    ).rejects.toMatchObject({ code: 'WINDOW_UNKNOWN_DIMENSION', retriable: false });
  });

  it('gives step durations whose percentiles are within 5% of the exact ones', async () => {
    const { store, funnel } = setup();
    const durations: number[] = [];
    const events = [];
    let seed = 7;
    const rnd = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let i = 0; i < 400; i++) {
      const start = T0 + i * 1000;
      // Log-normal-ish: 2 s to ~10 min.
      const d = Math.round(2000 * Math.exp(rnd() * 5.7));
      durations.push(d);
      events.push(ev(0, `d${i}`, start), ev(1, `d${i}`, start + d));
    }
    events.sort((a, b) => a.ts - b.ts);
    await store.applyBatch({
      funnel: { ...funnel, allowedLatenessMs: 60 * MIN },
      partition: '0',
      firstOffset: 0,
      lastOffset: events.length - 1,
      events,
      now: T0,
    });
    const stats = await windowQueries(store).durations({ funnel, from: T0, to: T0 + 60 * MIN, step: 1 });
    expect(stats.count).toBe(400);
    for (const [q, got] of [
      [0.5, stats.p50],
      [0.9, stats.p90],
      [0.95, stats.p95],
      [0.99, stats.p99],
    ] as const) {
      const exact = exactPercentile(durations, q)!;
      expect(Math.abs(got! - exact) / exact, `p${q * 100}: ${got} vs exact ${exact}`).toBeLessThanOrEqual(
        DURATION_RELATIVE_ERROR + 1e-9,
      );
    }
  });

  it(
    'compacts sealed buckets into funnel-level fine and rollup history, ' +
      'reads across both, and puts a TTL on every key',
    async () => {
      const { redis, prefix, store, funnel } = setup();
      const events = [];
      for (let m = 0; m < 60; m++) events.push(ev(0, `r${m}`, T0 + m * MIN + 5), ev(1, `r${m}`, T0 + m * MIN + 30_000));
      await store.applyBatch({
        funnel,
        partition: '2',
        firstOffset: 0,
        lastOffset: events.length - 1,
        events,
        now: T0,
      });
      // 7..53 min: fine edges 7..15 and 45..53, rollups 15..45 (not compacted yet: all read from hot fine buckets).
      const window = { funnel, from: T0 + 7 * MIN, to: T0 + 53 * MIN };
      expect(await store.stepTotals(window)).toMatchObject({
        from: T0 + 7 * MIN,
        to: T0 + 53 * MIN,
        volume: [46, 46, 0],
      });
      // Its own event time (59.5 m) seals what ends 37 m earlier: 5 m lateness + 30 m window + 2 buckets.
      expect(await store.compact(funnel)).toEqual({
        compactedUpTo: T0 + 22 * MIN,
        buckets: 22,
        sealedUpTo: T0 + 22 * MIN,
      });
      expect(await store.stepTotals(window)).toMatchObject({
        from: T0 + 7 * MIN,
        to: T0 + 53 * MIN,
        volume: [46, 46, 0],
      });

      // Another partition moves the funnel's event time to 2 h: 5 m lateness + 30 m window + 2 buckets = 37 m behind.
      await store.applyBatch({
        funnel,
        partition: '3',
        firstOffset: 0,
        lastOffset: 0,
        events: [ev(0, 'next', T0 + 120 * MIN)],
        now: T0,
      });
      expect(await store.compact(funnel)).toEqual({
        compactedUpTo: T0 + 83 * MIN,
        buckets: 61,
        sealedUpTo: T0 + 83 * MIN,
      });
      expect(await store.stepTotals(window)).toMatchObject({
        from: T0 + 7 * MIN,
        to: T0 + 53 * MIN,
        volume: [46, 46, 0],
      });

      const keys = await keysUnder(redis, prefix);
      expect(keys.filter((k) => k.includes(':{checkout}:r:')).length).toBeGreaterThan(0);
      expect(keys.filter((k) => k.includes(':{checkout}:f:')).length).toBe(60 * 4); // t, d0, d1, h1: only where written
      expect(
        keys.filter((k) => k.includes('{checkout:2}:f:')),
        'compacted hot buckets are deleted',
      ).toEqual([]);
      expect(keys.filter((k) => k.includes('{checkout:3}:f:')).length).toBeGreaterThan(0);
      for (const k of keys) {
        const ttl = await redis.pttl(k);
        expect(ttl, `${k} has no TTL`).toBeGreaterThan(0);
      }
      // TTLs run from the funnel's event time (2 h) like before from the watermark.
      const fineTtl = await redis.pttl(`${prefix}:{checkout}:f:${(T0 + 59 * MIN) / 1000}:t`);
      const rollTtl = await redis.pttl(`${prefix}:{checkout}:r:${(T0 + 45 * MIN) / 1000}:t`);
      const hotTtl = await redis.pttl(`${prefix}:{checkout:3}:f:${(T0 + 120 * MIN) / 1000}:t`);
      expect(fineTtl).toBeGreaterThan(funnel.retention.fineMs - 61 * MIN);
      expect(fineTtl).toBeLessThanOrEqual(funnel.retention.fineMs - 60 * MIN);
      expect(rollTtl).toBeGreaterThan(funnel.retention.rollupMs - 61 * MIN);
      expect(rollTtl).toBeLessThanOrEqual(funnel.retention.rollupMs - 60 * MIN);
      expect(hotTtl).toBeGreaterThan(hotKeepMs(funnel));
      expect(hotTtl).toBeLessThanOrEqual(hotKeepMs(funnel) + MIN);

      // Days later the fine buckets of that hour have expired: the same window is answered from rollups, widened.
      await store.applyBatch({
        funnel,
        partition: '3',
        firstOffset: 1,
        lastOffset: 1,
        now: T0,
        events: [ev(0, 'later', T0 + funnel.retention.fineMs + 2 * 60 * MIN)],
      });
      for (const k of keys.filter((k) => k.includes(':{checkout}:f:'))) await redis.del(k);
      const old = await store.stepTotals(window);
      expect(old).toMatchObject({ from: T0, to: T0 + 60 * MIN, volume: [60, 60, 0] });
    },
  );

  it(
    'seals buckets the funnel has left behind: ' +
      'writes into them, and cohort increments of entries in them, are late',
    async () => {
      const { store, funnel } = setup();
      // Partition 1 lags (its watermark stays at 80 m), partition 0 moves the funnel's event time to 120 m.
      await store.applyBatch({
        funnel,
        partition: '1',
        firstOffset: 0,
        lastOffset: 1,
        now: T0,
        events: [ev(0, 'a', T0), ev(0, 'x', T0 + 80 * MIN)],
      });
      await store.applyBatch({
        funnel,
        partition: '0',
        firstOffset: 0,
        lastOffset: 0,
        now: T0,
        events: [ev(0, 'b', T0 + 120 * MIN)],
      });
      // The idle partition does not hold sealing back: everything before 83 m is sealed on every partition.
      expect(await store.compact(funnel)).toMatchObject({ compactedUpTo: T0 + 83 * MIN, sealedUpTo: T0 + 83 * MIN });

      // None of these is late by partition 1's own watermark and allowedLateness.
      const res = await store.applyBatch({
        funnel,
        partition: '1',
        firstOffset: 2,
        lastOffset: 5,
        now: T0,
        events: [
          ev(0, 'c', T0 + 82 * MIN), // entry into a sealed bucket: late
          ev(1, 'x', T0 + 84 * MIN), // x's step lands in an open bucket, but x entered in sealed bucket 80 m
          ev(0, 'd', T0 + 85 * MIN), // open bucket: an entry
          ev(1, 'd', T0 + 86 * MIN), // d's entry bucket is open: a normal conversion
        ],
      });
      expect(res).toMatchObject({
        status: 'applied',
        counts: { matched: 4, lateDropped: 1, entries: 1, steps: 2, lateCohort: 1 },
      });
      expect(await windowQueries(store).counters(funnel)).toMatchObject({ lateDropped: 1, lateCohort: 1 });
      const all = { funnel, from: T0, to: T0 + 121 * MIN };
      expect((await store.stepTotals(all)).volume).toEqual([4, 2, 0]);
      const cohort = await windowQueries(store).cohortConversion({ ...all, asOf: T0 + 200 * MIN });
      expect(cohort).toMatchObject({ entered: 4, reached: [4, 1, 0] });
      expect((await windowQueries(store).durations({ ...all, step: 1 })).count).toBe(2);

      // A partition that first writes after the compaction gets the sealing horizon as its floor.
      const joined = await store.applyBatch({
        funnel,
        partition: 'http',
        firstOffset: 0,
        lastOffset: 1,
        now: T0,
        events: [ev(0, 'h1', T0 + 50 * MIN), ev(0, 'h2', T0 + 100 * MIN)],
      });
      expect(joined).toMatchObject({ counts: { lateDropped: 1, entries: 1 } });
      // So does a partition registered by another replica's store.
      const other = new RedisWindowStore({ redis: client(), prefix: setupPrefix(store) });
      const joined2 = await other.applyBatch({
        funnel,
        partition: '7',
        firstOffset: 0,
        lastOffset: 0,
        now: T0,
        events: [ev(0, 'h3', T0 + 60 * MIN)],
      });
      expect(joined2).toMatchObject({ counts: { lateDropped: 1, entries: 0 } });
      expect((await store.stepTotals(all)).volume).toEqual([5, 2, 0]);
    },
  );

  it(
    'answers every query the same before and after compaction, ' +
      'across the hot/history boundary, counting each bucket once',
    async () => {
      const { prefix, store, funnel } = setup();
      let seed = 11;
      const rnd = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
      const byPartition = new Map<string, ReturnType<typeof ev>[]>([
        ['0', []],
        ['1', []],
        ['http', []],
      ]);
      const platforms = ['ios', 'web', 'android', 'tv'];
      for (let i = 0; i < 360; i++) {
        const t = T0 + i * 30_000 + Math.floor(rnd() * 20_000);
        const attrs = { platform: platforms[Math.floor(rnd() * 4)]!, region: rnd() < 0.5 ? 'eu' : 'us' };
        const list = byPartition.get(['0', '1', 'http'][i % 3]!)!;
        list.push(ev(0, `u${i}`, t, attrs));
        if (rnd() < 0.7) list.push(ev(1, `u${i}`, t + Math.floor(rnd() * 20 * MIN), attrs));
        if (rnd() < 0.4) list.push(ev(2, `u${i}`, t + 21 * MIN + Math.floor(rnd() * 15 * MIN), attrs));
        if (rnd() < 0.1) list.push(ev(1, `u${i}`, t + 22 * MIN, attrs)); // a duplicate or out of order
      }
      for (const [p, list] of byPartition) {
        list.sort((a, b) => a.ts - b.ts);
        for (let i = 0; i < list.length; i += 50) {
          await store.applyBatch({
            funnel,
            partition: p,
            firstOffset: i,
            lastOffset: i + Math.min(50, list.length - i) - 1,
            events: list.slice(i, i + 50),
            now: T0,
          });
        }
      }
      const windows = [
        [T0, T0 + 4 * 60 * MIN],
        [T0 + 7 * MIN, T0 + 53 * MIN],
        [T0 + 44 * MIN, T0 + 151 * MIN],
        [T0 + 140 * MIN, T0 + 150 * MIN],
      ] as const;
      const answers = async () =>
        Promise.all(
          windows.map(async ([from, to]) => {
            const q = { funnel, from, to };
            return {
              totals: await store.stepTotals(q),
              series: await windowQueries(store).stepVolume(q),
              dims: await windowQueries(store).dimensionVolume({ ...q, dimension: 'platform' }),
              ratio: await windowQueries(store).ratioConversion({ ...q, fromStep: 0, toStep: 2, dimension: 'region' }),
              cohort: await windowQueries(store).cohortConversion({
                ...q,
                asOf: T0 + 100 * MIN,
                dimension: 'platform',
              }),
              durations: [
                await windowQueries(store).durations({ ...q, step: 1 }),
                await windowQueries(store).durations({ ...q, step: 2 }),
              ],
            };
          }),
        );
      const before = await answers();
      expect(before[0]!.totals.volume[0]).toBe(360);

      // Part of the way: the boundary falls inside a rollup bucket (50 m) and inside the query windows.
      const first = await store.compact(funnel, { maxBuckets: 50 });
      expect(first).toMatchObject({ compactedUpTo: T0 + 50 * MIN, buckets: 50 });
      expect(await answers()).toEqual(before);

      // The rest from two stores at once (two replicas), then again: every bucket moved exactly once.
      const other = new RedisWindowStore({ redis: client(), prefix });
      const [a, b] = await Promise.all([store.compact(funnel), other.compact(funnel)]);
      const horizon = a.sealedUpTo!;
      expect(horizon).toBeGreaterThan(T0 + 151 * MIN); // the first window still reaches past it into hot buckets
      expect(a.buckets + b.buckets).toBe((horizon - (T0 + 50 * MIN)) / MIN);
      expect(await store.compact(funnel)).toEqual({ compactedUpTo: horizon, buckets: 0, sealedUpTo: horizon });
      expect(await answers()).toEqual(before);
      expect(await windowQueries(other).counters(funnel)).toMatchObject({ lateDropped: 0, lateCohort: 0 });
    },
  );

  it('refuses malformed input with typed, non-retriable errors', async () => {
    const { redis, store, funnel } = setup();
    const err = await store
      .applyBatch({ funnel, partition: '0', firstOffset: 5, lastOffset: 4, events: [], now: T0 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(FwError);
    expect(err).toMatchObject({ code: 'WINDOW_BAD_BATCH', retriable: false });
    await expect(
      store.applyBatch({ funnel, partition: 'a}b', firstOffset: 0, lastOffset: 0, events: [], now: T0 }),
    ).rejects.toMatchObject({ code: 'WINDOW_BAD_NAME' });
    await expect(windowQueries(store).durations({ funnel, from: T0, to: T0 + MIN, step: 9 })).rejects.toMatchObject({
      code: 'WINDOW_UNKNOWN_STEP',
    });
    // An empty batch still records its offset, so the consumer does not re-read it.
    expect(
      await store.applyBatch({ funnel, partition: '0', firstOffset: 0, lastOffset: 7, events: [], now: T0 }),
    ).toMatchObject({ status: 'applied', storedOffset: 7 });
    expect(await store.getOffsets(funnel, ['0'])).toEqual(new Map([['0', 7]]));
    await expect(store.compact(funnel, { maxBuckets: 0 })).rejects.toMatchObject({
      code: 'WINDOW_BAD_ARGUMENTS',
      retriable: false,
    });
    expect(await store.compact(checkoutFunnel({ name: 'empty' }))).toEqual({
      compactedUpTo: undefined,
      buckets: 0,
      sealedUpTo: undefined,
    });
    // The batch's state read (one script, one JSON argument) refuses what is not shard, entities pairs.
    const meta = new KeyLayout(setupPrefix(store)).meta(funnel.name, '0');
    for (const bad of ['', 'not json', '"e"', '[1]', '[1, ["e"], 2]', '["x", ["e"]]', '[1, "e"]']) {
      const reply = await callWindowCommand(redis, 'readState', [meta], [bad], 'test');
      expect(() => interpretReadStateReply(reply, [1], 'test'), bad).toThrow(
        expect.objectContaining({ code: 'WINDOW_BAD_ARGUMENTS', retriable: false }),
      );
    }
    const none = interpretReadStateReply(
      await callWindowCommand(redis, 'readState', [meta], ['[3, ["nobody"]]'], 'test'),
      [1],
      'test',
    );
    expect(none).toEqual({ o: '7', w: null, s: null, found: [] });
    // Only what exists comes back: (pair, position, state), both counted from 0 in the order asked.
    const W = funnel.conversionWindowMs;
    expect(
      await store.applyBatch({
        funnel,
        partition: '0',
        firstOffset: 8,
        lastOffset: 8,
        events: [ev(0, 'u1', T0 + 1500)],
        now: T0,
      }),
    ).toMatchObject({ status: 'applied' });
    const k = Math.floor((T0 + 1500) / W);
    const found = interpretReadStateReply(
      await callWindowCommand(
        redis,
        'readState',
        [meta],
        [JSON.stringify([k - 1, ['u1', 'nobody'], k, ['nobody', 'u1'], k + 1, ['u1']])],
        'test',
      ),
      [2, 2, 1],
      'test',
    );
    expect(found.o).toBe('8');
    expect(found.found).toEqual([1, 1, `${T0 + 1500 - k * W}:0:1:127.127`]);
    // A reply that points outside what was asked is refused, not followed.
    expect(() => interpretReadStateReply(['8', '', '', '[2, 0, "x"]'], [2, 2], 'test')).toThrow(
      expect.objectContaining({ code: 'WINDOW_BAD_REPLY' }),
    );
    for (const bad of ['[0, 2, "x"]', '[0.5, 0, "x"]', '[0, 1.5, "x"]', '[0, 0, 7]', '[0, 0]', '{}']) {
      expect(() => interpretReadStateReply(['8', '', '', bad], [2, 2], 'test'), bad).toThrow(
        expect.objectContaining({ code: 'WINDOW_BAD_REPLY' }),
      );
    }
  });
});
