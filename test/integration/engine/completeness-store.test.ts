/**
 * Completeness curves with sharded evaluation: each shard saves only its own curves, field by field, so two shards
 * saving in turn keep both (the single key of unsharded evaluation would keep only the last writer's); a reader
 * (gates, explain, a shard taking over) loads them all, and the curves an unsharded daemon saved before as well.
 */
import { describe, expect, it } from 'vitest';
import { RedisCompletenessStore } from '../../../src/engine/completeness-store.js';
import { redisClient, uniquePrefix } from '../../support/env.js';

const curve = (x: number) => ({ v: 1 as const, sums: [[x, 10, x + 1, 10]] });

describe('RedisCompletenessStore', () => {
  it('keeps the curves of every shard, and reads those saved unsharded too', async () => {
    const redis = redisClient();
    const prefix = uniquePrefix();
    await new RedisCompletenessStore({ redis, prefix }).save({ 'old|a|b': curve(1), 'f0|a|b': curve(2) });
    const shardA = new RedisCompletenessStore({ redis, prefix, sharded: true });
    const shardB = new RedisCompletenessStore({ redis, prefix, sharded: true });
    await shardA.save({ 'f0|a|b': curve(3) });
    await shardB.save({ 'f1|a|b': curve(4) });
    await shardA.save({ 'f0|a|b': curve(5) });
    expect(await new RedisCompletenessStore({ redis, prefix }).load()).toEqual({
      'old|a|b': curve(1),
      'f0|a|b': curve(5),
      'f1|a|b': curve(4),
    });
    expect(await redis.pttl(`${prefix}:{alerts}:completeness-curves`)).toBeGreaterThan(0);
  });
});
