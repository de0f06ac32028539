import { describe, it, expect } from 'vitest';
import {
  addStoredState,
  encodeCommit,
  encodeState,
  groupName,
  LOOKUP_ABOVE,
  LOOKUP_BELOW,
  planBatch,
  planStateRead,
  type BatchEvents,
  type PlanParams,
} from '../../../src/windows/apply-plan.js';
import { durationBucket } from '../../../src/windows/histogram.js';
import { MAX_STEPS } from '../../../src/windows/key-layout.js';

const W = 60_000;
const P: PlanParams = { bucketMs: 1000, hotKeepMs: 10_000, conversionWindowMs: W, allowedLatenessMs: 5_000, nDims: 2 };
const T = 1_000 * W; // shard 1000

function batch(rows: [step: number, ts: number, entity: string, c0?: number, c1?: number][]): BatchEvents {
  return {
    n: rows.length,
    steps: rows.map((r) => r[0]),
    ts: rows.map((r) => r[1]),
    entities: rows.map((r) => r[2]),
    codes: rows.flatMap((r) => [r[3] ?? 0, r[4] ?? 1]),
  };
}

/** Plans a batch against stored states given as shard → entity → encoded state. */
function run(ev: BatchEvents, stored: Record<number, Record<string, string>> = {}, wm?: number, sealed?: number) {
  const read = planStateRead(ev, W);
  read.recs.forEach((rec, j) => {
    for (let k = rec.lo - LOOKUP_BELOW; k <= rec.hi + LOOKUP_ABOVE; k++)
      addStoredState(rec, k, stored[k]?.[read.names[j]!] ?? null, W);
  });
  const plan = planBatch(P, wm, sealed, ev, read);
  const field = (start: number, group: string, f: number) => {
    const m = plan.buckets.get(start);
    if (!m) return 0;
    for (const [key, n] of m) if (groupName(Math.floor(key / 65536)) === group && key % 65536 === f) return n;
    return 0;
  };
  const states = new Map<string, string>();
  read.recs.forEach((rec, j) => {
    for (const s of rec.slots) if (s.dirty) states.set(`${s.k}/${read.names[j]}`, encodeState(s, W));
  });
  return { read, plan, field, states };
}

describe('apply plan (the applyBatch state machine)', () => {
  it('reads every shard an event may look up: floor(ts/W)+1 down to floor(ts/W)-2, per entity', () => {
    const { names, recs, entityOf } = planStateRead(
      batch([
        [0, T + 10, 'a'],
        [1, T + W + 5, 'a'],
        [0, T + 20, 'b'],
      ]),
      W,
    );
    expect(names).toEqual(['a', 'b']);
    expect([...entityOf]).toEqual([0, 0, 1]);
    // a's events are in shards 1000 and 1001: it is looked up in 998..1002; b in 998..1001.
    expect(recs.map((r) => [r.lo - LOOKUP_BELOW, r.hi + LOOKUP_ABOVE])).toEqual([
      [998, 1002],
      [998, 1001],
    ]);
  });

  it('entry, in-order step with duration, cohort at the entry bucket with the entry dimensions', () => {
    const { plan, field, states } = run(
      batch([
        [0, T + 1500, 'a', 3, 4],
        [1, T + 4200, 'a', 7, 8],
      ]),
    );
    expect(plan.counts).toMatchObject({ entries: 1, steps: 1, duplicates: 0, late: 0 });
    expect(plan.watermark).toBe(T + 4200);
    expect(plan.minBucket).toBe(T + 1000);
    expect(field(T + 1000, 't', 0)).toBe(1);
    expect(field(T + 1000, 'd0', 0 * 128 + 3)).toBe(1);
    expect(field(T + 4000, 't', 1)).toBe(1);
    expect(field(T + 4000, 'd1', 1 * 128 + 8)).toBe(1);
    // Cohort: entry bucket, entry dimension codes.
    expect(field(T + 1000, 't', 101)).toBe(1);
    expect(field(T + 1000, 'd0', 2048 + 128 + 3)).toBe(1);
    expect(field(T + 1000, 'd1', 2048 + 128 + 4)).toBe(1);
    expect(field(T + 4000, 'h1', durationBucket(2700))).toBe(1);
    expect(states.get(`1000/a`)).toBe('1500:2700:3:3.4');
  });

  it('continues from a stored state: duplicate step, out of order, expired, no entry, duplicate entry', () => {
    // a entered at T, reached steps 0 and 2; b entered at T
    const stored = { 1000: { a: '0:0:5:1.2', b: '0:0:1:1.2' } };
    const { plan, field, states } = run(
      batch([
        [2, T + 3000, 'a'], // duplicate of step 2
        [1, T + 4000, 'a'], // out of order: step 2 already reached
        [0, T + 5000, 'b'], // duplicate entry (window open)
        [1, T + 6000, 'c'], // no entry
        [3, T + W + 10, 'b'], // expired (more than W after the entry)
        [1, T + 7000, 'c'], // late now: older than watermark - lateness
      ]),
      stored,
    );
    expect(plan.counts).toMatchObject({
      duplicates: 2,
      outOfOrder: 1,
      steps: 1,
      expired: 1,
      noEntry: 1,
      entries: 0,
      late: 1,
    });
    expect(field(T + 3000, 't', 202)).toBe(1);
    expect(field(T + 4000, 't', 301)).toBe(1);
    expect(field(T, 't', 101)).toBe(1);
    expect(field(T, 'd0', 2048 + 128 + 1)).toBe(1);
    expect(field(T + 5000, 't', 200)).toBe(1);
    expect(field(T + W, 't', 503)).toBe(1);
    expect(field(T + W, 't', 3)).toBe(1);
    expect(field(T + 6000, 't', 401)).toBe(1);
    expect(field(T + 6000, 't', 1)).toBe(1);
    expect(states.get('1000/a')).toBe('0:0:7:1.2'); // out of order: no duration, last step time unchanged
    expect(states.get('1000/b')).toBe('0:0:9:1.2');
    expect(states.has('1000/c')).toBe(false);
  });

  it('late by watermark or sealed bucket changes nothing; a sealed entry bucket makes a late cohort', () => {
    const stored = { 1000: { a: '0:0:1:0.1' } };
    const { plan, field } = run(
      batch([
        [1, T + 100, 'a'],
        [0, T + 50_000, 'z'],
        [0, T + 40_000, 'y'],
        [1, T + 51_000, 'a'],
      ]),
      stored,
      T + 50_000,
      T + 1000,
    );
    // T+100 is sealed; T+40,000 is older than wm - lateness.
    expect(plan.counts).toMatchObject({ late: 2, entries: 1, steps: 1, lateCohort: 1 });
    expect(field(T, 't', 101)).toBe(0);
    expect(field(T + 51_000, 't', 1)).toBe(1);
    expect(plan.watermark).toBe(T + 51_000);
  });

  it('a new entry after the window replaces the state in its own shard; lookups prefer the newest shard', () => {
    const stored = { 1000: { a: '0:0:1:0.1' } };
    const { plan, states } = run(
      batch([
        [0, T + W + 10, 'a', 5, 6],
        [1, T + W + 20, 'a'],
      ]),
      stored,
    );
    expect(plan.counts).toMatchObject({ entries: 1, steps: 1 });
    expect(states.get('1001/a')).toBe('10:10:3:5.6');
    expect(states.has('1000/a')).toBe(false);
  });

  it('encodes the commit: counters, bucket keys with TTL from the watermark, shard states', () => {
    const ev = batch([[0, T + 1500, 'a', 3, 4]]);
    const read = planStateRead(ev, W);
    const plan = planBatch(P, undefined, undefined, ev, read);
    const argv = encodeCommit(
      {
        firstOffset: 5,
        lastOffset: 9,
        readOffset: '4',
        readSealed: '',
        sealFloor: undefined,
        conversionWindowMs: W,
        allowedLatenessMs: 5000,
        bucketMs: 1000,
        hotKeepMs: 10_000,
        shardTtlMs: 77,
        metaTtlMs: 88,
        unmatched: 2,
        noEntity: 1,
      },
      plan,
      read,
    );
    expect(argv.slice(0, 21)).toEqual([
      5,
      9,
      '4',
      '',
      '',
      T + 1500,
      W,
      5000,
      77,
      88,
      T + 1000,
      0,
      2,
      1,
      0,
      0,
      0,
      0,
      0,
      3,
      1,
    ]);
    const ttl = T + 1000 + 1000 + 10_000 - (T + 1500);
    expect(argv.slice(21)).toEqual([
      `f:${(T + 1000) / 1000}:t`,
      ttl,
      1,
      0,
      1,
      `f:${(T + 1000) / 1000}:d0`,
      ttl,
      1,
      3,
      1,
      `f:${(T + 1000) / 1000}:d1`,
      ttl,
      1,
      4,
      1,
      1000,
      1,
      'a',
      '1500:0:1:3.4',
    ]);
    expect(groupName(MAX_STEPS + 3)).toBe('d3');
    expect(groupName(2)).toBe('h2');
  });
});
