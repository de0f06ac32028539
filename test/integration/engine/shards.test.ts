/**
 * Evaluation shards (engine/shards.ts) against the real test Redis, standalone and Cluster: a replica alone holds
 * every shard; a second one joining gets exactly the shards rendezvous hashing gives it, after the first released
 * them, with larger fencing tokens; a graceful leave hands its shards back at the next beat; a crashed replica's
 * shards move once its heartbeat and leases lapse (real 900 ms ttl); and at no point do two replicas both count
 * themselves holder of a shard. Fencing: a commit carrying a stale shard token is refused, the holder's lands.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { ShardCoordinator, rendezvousOwner } from '../../../src/engine/shards.js';
import { RedisAlertStore } from '../../../src/engine/alert-store.js';
import type { RedisLike } from '../../../src/redis/client.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import { systemClock } from '../../../src/core/clock.js';
import { eventually, redisClient, redisClusterClient, uniquePrefix } from '../../support/env.js';

const TTL = 900;
const SHARDS = Array.from({ length: 12 }, (_, i) => `funnel-${i}`);

describe.each([
  ['standalone Redis', () => redisClient() as RedisLike],
  ['Redis Cluster', () => redisClusterClient() as RedisLike],
] as const)('ShardCoordinator on %s', (_label, client) => {
  function replicas() {
    const redis = client();
    const prefix = uniquePrefix();
    const make = (owner: string) => {
      const c = new ShardCoordinator({ redis, prefix, owner, ttlMs: TTL, clock: systemClock, shards: () => SHARDS });
      onTestFinished(() => c.stop());
      return c;
    };
    return { redis, prefix, make };
  }

  /** Every shard held by at most one of `cs`; returns who holds what. */
  function holders(...cs: ShardCoordinator[]): Map<string, string> {
    const out = new Map<string, string>();
    for (const [i, c] of cs.entries()) {
      for (const shard of c.owned().keys()) {
        expect(out.has(shard), `${shard} held twice`).toBe(false);
        out.set(shard, String(i));
      }
    }
    return out;
  }

  it('one alone holds every shard; a joiner gets its share after the handoff; a leaver gives it back', async () => {
    const { make } = replicas();
    const a = make('replica-a');
    await a.beat();
    expect([...a.owned().keys()].sort()).toEqual([...SHARDS].sort());
    const tokensA = a.owned();

    const b = make('replica-b');
    await b.beat(); // b is a member now, but a still holds everything: b waits
    expect(b.members()).toEqual(['replica-a', 'replica-b']);
    holders(a, b);
    expect(b.owned().size).toBe(0);
    await a.beat(); // a sees b and releases b's shards
    holders(a, b);
    await b.beat(); // b takes them
    const split = holders(a, b);
    expect(split.size).toBe(SHARDS.length);
    const forB = SHARDS.filter((s) => rendezvousOwner(s, ['replica-a', 'replica-b']) === 'replica-b');
    expect(forB.length).toBeGreaterThan(0);
    expect([...b.owned().keys()].sort()).toEqual(forB.sort());
    for (const [shard, token] of b.owned()) expect(token).toBeGreaterThan(tokensA.get(shard)!);

    await b.stop(); // graceful: releases and leaves
    await a.beat();
    expect([...a.owned().keys()].sort()).toEqual([...SHARDS].sort());
    expect(a.members()).toEqual(['replica-a']);
  });

  it("a crashed replica's shards move once its heartbeat and leases lapse; its stale commit is fenced", async () => {
    const { redis, prefix, make } = replicas();
    const a = make('replica-a');
    const b = make('replica-b');
    await a.beat();
    await b.beat();
    await a.beat();
    await b.beat();
    const ofB = b.owned();
    expect(ofB.size).toBeGreaterThan(0);
    // b is never called again, as if its process died. a beats on; b's shards come over only after b's leases ran
    // out in Redis (and b's local validity, shorter, ran out before that).
    await eventually(
      async () => {
        await a.beat();
        holders(a, b);
        return a.owned().size === SHARDS.length ? true : undefined;
      },
      TTL * 20,
      "b's shards taken over",
    );
    expect(a.members()).toEqual(['replica-a']);

    const store = new RedisAlertStore({ redis, prefix });
    const [shard, stale] = [...ofB][0]!;
    const state: AlertState = { rule: 'r', segment: null, status: 'inactive', since: 1, seq: 1, lastEvaluated: 1 };
    expect(await store.commit(stale, [state], [], { shard })).toBe('fenced');
    expect(await store.commit(a.owned().get(shard)!, [state], [], { shard })).toBe('ok');
    // Another shard's token does not open this one.
    const [other, otherToken] = [...a.owned()].find(([s]) => s !== shard)!;
    expect(otherToken).toBeGreaterThan(0);
    expect(await store.commit(otherToken + 1_000, [state], [], { shard: other })).toBe('fenced');
  });
});
