/**
 * `bucketCounts` with `values`: a dimension asked for some values reads only their hash fields, and answers for
 * them exactly what the full read answers (hot buckets summed over partitions, and compacted history), with the
 * other values of the dimension left out.
 */
import { describe, expect, it } from 'vitest';
import { RedisWindowStore } from '../../../src/windows/redis-window-store.js';
import { redisClient, uniquePrefix } from '../../support/env.js';
import { checkoutFunnel, ev, MIN, T0 } from './fixtures.js';

describe('bucketCounts of some values of a dimension', () => {
  it('equals the full read for those values, hot over partitions and from history, and omits the others', async () => {
    const store = new RedisWindowStore({ redis: redisClient(), prefix: uniquePrefix() });
    const funnel = checkoutFunnel();
    const regions = ['eu', 'us', 'apac'];
    for (const partition of ['0', '1']) {
      const events = [];
      for (let m = 0; m < 60; m++) {
        for (let i = 0; i < 3; i++) {
          const entity = `p${partition}-${m}-${i}`;
          const attrs = { region: regions[(m + i) % 3]!, platform: i % 2 ? 'ios' : 'web' };
          events.push(ev(0, entity, T0 + m * MIN + i * 1000, attrs));
          if ((m + i) % 2 === 0) events.push(ev(1, entity, T0 + m * MIN + i * 1000 + 500, attrs));
        }
      }
      await store.applyBatch({
        funnel,
        partition,
        firstOffset: 0,
        lastOffset: events.length - 1,
        events,
        now: T0 + 60 * MIN,
      });
    }
    const check = async () => {
      const q = { funnel, from: T0, to: T0 + 60 * MIN, resolution: 'fine' as const, dimensions: ['region'] };
      const all = await store.bucketCounts(q);
      const some = await store.bucketCounts({ ...q, values: { region: ['us'] } });
      expect(some.buckets.map((b) => b.start)).toEqual(all.buckets.map((b) => b.start));
      let seen = 0;
      all.buckets.forEach((b, j) => {
        const s = some.buckets[j]!;
        expect(s.volume).toEqual(b.volume);
        expect(Object.keys(s.dims.region!.volume)).toEqual(b.dims.region!.volume.us ? ['us'] : []);
        expect(s.dims.region!.volume.us).toEqual(b.dims.region!.volume.us);
        expect(s.dims.region!.cohort.us).toEqual(b.dims.region!.cohort.us);
        seen += b.dims.region!.volume.us?.[0] ?? 0;
      });
      // Both partitions counted: a third of 2 × 60 × 3 starts are in us.
      expect(seen).toBe(120);
      return all.compactedTo;
    };
    expect(await check()).toBe(Number.NEGATIVE_INFINITY);
    const c = await store.compact(funnel);
    expect(c.buckets).toBeGreaterThan(0);
    expect(await check()).toBeGreaterThan(T0);
  });
});
