import { describe, it, expect } from 'vitest';
import {
  KeyLayout,
  planWindow,
  planWindowPreferFine,
  decodeDimField,
  dimCohortField,
  dimVolumeField,
  checkFunnelShape,
  totalField,
  TotalKind,
  splitAtCompacted,
  sealHorizon,
  sealDelayMs,
  hotKeepMs,
  bucketGroups,
} from '../../../src/windows/key-layout.js';
import { FUNNEL_DEFAULTS, type FunnelDef } from '../../../src/funnels/funnel.js';

const M = 60_000;
const f = { bucketMs: M, retention: { fineMs: 3 * 86_400_000, rollupBucketMs: 15 * M, rollupMs: 35 * 86_400_000 } };

describe('key layout', () => {
  it('puts every key of a (funnel, partition) under one hash tag', () => {
    const k = new KeyLayout('fw');
    expect(k.meta('checkout', '7')).toBe('fw:{checkout:7}:m');
    expect(k.bucket('checkout', '7', 'f', 1_795_442_460_000, 'd2')).toBe('fw:{checkout:7}:f:1795442460:d2');
    expect(k.entityShard('checkout', 'http', 3)).toBe('fw:{checkout:http}:e:3');
    expect(k.partitions('checkout')).toBe('fw:{checkout}:parts');
    // History and the compaction marker share the funnel's tag: one slot per funnel, whatever the partitions.
    expect(k.historyBucket('checkout', 'r', 1_795_442_400_000, 't')).toBe('fw:{checkout}:r:1795442400:t');
    expect(k.compaction('checkout')).toBe('fw:{checkout}:c');
    expect(() => k.meta('a{b', '1')).toThrow(expect.objectContaining({ code: 'WINDOW_BAD_NAME' }));
    expect(() => new KeyLayout('')).toThrow(expect.objectContaining({ code: 'WINDOW_BAD_PREFIX' }));
  });

  it('encodes fields as small integers and decodes them back', () => {
    expect(totalField(TotalKind.Expired, 3)).toBe(503);
    expect(decodeDimField(dimVolumeField(3, 126))).toEqual({ kind: 'volume', step: 3, code: 126 });
    expect(dimCohortField(15, 127)).toBeLessThan(4096);
    expect(decodeDimField(dimCohortField(15, 7))).toEqual({ kind: 'cohort', step: 15, code: 7 });
  });

  it('reads whole rollup buckets from rollups and the ragged edges from fine buckets', () => {
    const T = 1_795_442_400_000; // on a 15-minute boundary
    const p = planWindow(f, T + 7 * M, T + 53 * M, -Infinity);
    expect(p.from).toBe(T + 7 * M);
    expect(p.to).toBe(T + 53 * M);
    expect(p.ranges.map((r) => [r.res, r.starts.length])).toEqual([
      ['f', 8],
      ['r', 2],
      ['f', 8],
    ]);
    expect(planWindow(f, T + 1 * M, T + 5 * M, -Infinity).ranges.map((r) => [r.res, r.starts.length])).toEqual([
      ['f', 4],
    ]);
  });

  it('widens edges to rollup buckets where fine buckets have expired, and says so', () => {
    const T = 1_795_442_400_000;
    const p = planWindow(f, T + 7 * M, T + 53 * M, T + 60 * M);
    expect([p.from, p.to]).toEqual([T, T + 60 * M]);
    expect(p.ranges.map((r) => [r.res, r.starts.length])).toEqual([['r', 4]]);
    const inner = planWindow(f, T + 1 * M, T + 5 * M, T + 60 * M);
    expect([inner.from, inner.to, inner.ranges[0]!.res]).toEqual([T, T + 15 * M, 'r']);
  });

  it('prefers fine buckets for cohorts, rollups only for what fine retention lost', () => {
    const T = 1_795_442_400_000;
    expect(planWindowPreferFine(f, T, T + 30 * M, -Infinity).ranges.map((r) => [r.res, r.starts.length])).toEqual([
      ['f', 30],
    ]);
    const p = planWindowPreferFine(f, T, T + 60 * M, T + 20 * M);
    expect(p.ranges.map((r) => [r.res, r.starts.length])).toEqual([
      ['r', 2],
      ['f', 30],
    ]);
    expect([p.from, p.to]).toEqual([T, T + 60 * M]);
  });

  it('refuses funnel shapes the layout cannot hold', () => {
    const base: FunnelDef = {
      name: 'x',
      entityField: 'entity',
      steps: [{ name: 'a', event: 'a' }],
      conversionWindowMs: M,
      bucketMs: M,
      allowedLatenessMs: 0,
      dimensions: [],
      services: [],
      retention: { ...FUNNEL_DEFAULTS.retention },
    };
    expect(() => checkFunnelShape(base)).not.toThrow();
    expect(() => checkFunnelShape({ ...base, bucketMs: 1500 })).toThrow(
      expect.objectContaining({ code: 'WINDOW_UNSUPPORTED_FUNNEL' }),
    );
    expect(() => checkFunnelShape({ ...base, retention: { ...base.retention, rollupBucketMs: 90_000 } })).toThrow(
      /multiple of bucketMs/,
    );
    expect(() => checkFunnelShape({ ...base, dimensions: [{ name: 'd', maxValues: 126 }] })).toThrow(/maxValues/);
  });
});

describe('sealing and compaction plans', () => {
  const T = 1_795_442_400_000;
  const funnel = {
    bucketMs: M,
    conversionWindowMs: 30 * M,
    allowedLatenessMs: 5 * M,
    steps: [{}, {}, {}],
    dimensions: [{}, {}],
  } as const;

  it('seals what ends lateness + conversion window + 2 buckets behind the event time, on bucket boundaries', () => {
    expect(sealDelayMs(funnel)).toBe(37 * M);
    expect(sealHorizon(funnel, T + 120 * M)).toBe(T + 83 * M);
    expect(sealHorizon(funnel, T + 120 * M + 59_999)).toBe(T + 83 * M);
    expect(hotKeepMs(funnel)).toBe(24 * 60 * M);
    expect(hotKeepMs({ conversionWindowMs: 24 * 60 * M, allowedLatenessMs: 0 })).toBe(50 * 60 * M);
    expect(bucketGroups(funnel as never)).toEqual(['t', 'd0', 'd1', 'h1', 'h2']);
  });

  it('reads a rollup bucket compaction has not passed as its fine buckets, keeping the covered window', () => {
    const p = planWindow(f, T + 7 * M, T + 53 * M, -Infinity); // f 7..15, r 15..45, f 45..53
    const none = splitAtCompacted(f, p, Number.NEGATIVE_INFINITY);
    expect(none.ranges.map((r) => [r.res, r.starts.length])).toEqual([['f', 46]]);
    const half = splitAtCompacted(f, p, T + 35 * M);
    expect(half.ranges.map((r) => [r.res, r.starts.length])).toEqual([
      ['f', 8],
      ['r', 1],
      ['f', 23],
    ]);
    expect(half.ranges[2]!.starts[0]).toBe(T + 30 * M);
    expect([half.from, half.to]).toEqual([p.from, p.to]);
    expect(splitAtCompacted(f, p, T + 45 * M)).toEqual(p);
  });
});
