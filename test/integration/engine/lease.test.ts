/**
 * The leader lease against the real test Redis, standalone and Cluster: one leader among two replicas, renewal
 * keeping the token, takeover with a larger token after the leader crashes (stops renewing, real 600 ms ttl),
 * immediate takeover after a graceful stop(), the timer-driven start(), local validity on the injected clock, and
 * fencing: a write with the old token is refused and makes the ex-leader forget its leadership.
 */
import { describe, it, expect } from 'vitest';
import { LeaderLease, fencedWrite, type LeaseOptions, type RedisLike } from '../../../src/engine/lease.js';
import { alertsKeys } from '../../../src/redis/alert-keys.js';
import { RedisAlertStore } from '../../../src/engine/alert-store.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import { ManualClock, systemClock } from '../../../src/core/clock.js';
import { FwError } from '../../../src/core/errors.js';
import { eventually, redisClient, redisClusterClient, uniquePrefix } from '../../support/env.js';

const TTL = 600;

function state(rule: string, seq: number): AlertState {
  return { rule, segment: null, status: 'inactive', since: 1, seq, lastEvaluated: 1 };
}

describe.each([
  ['standalone Redis', () => redisClient() as RedisLike],
  ['Redis Cluster', () => redisClusterClient() as RedisLike],
] as const)('LeaderLease on %s', (_label, client) => {
  function pair(extra: Partial<LeaseOptions> = {}) {
    const redis = client();
    const prefix = uniquePrefix();
    const make = (owner: string, o: Partial<LeaseOptions> = {}) =>
      new LeaderLease({ redis, prefix, owner, ttlMs: TTL, clock: systemClock, ...extra, ...o });
    return { redis, prefix, a: make('replica-a'), b: make('replica-b'), make };
  }

  it('exactly one of two replicas leads; renewing keeps the token; the other sees who holds it', async () => {
    const { a, b } = pair();
    const [sa, sb] = await Promise.all([a.tryAcquire(), b.tryAcquire()]);
    expect([sa.leader, sb.leader].filter(Boolean)).toHaveLength(1);
    const [leader, other, ls, os] = sa.leader ? [a, b, sa, sb] : [b, a, sb, sa];
    expect(ls.token).toEqual(expect.any(Number));
    expect(leader.isLeader()).toBe(true);
    expect(leader.token()).toBe(ls.token);
    expect(os).toMatchObject({ leader: false, token: undefined, holder: ls.holder });
    expect(os.expiresInMs).toBeGreaterThan(0);
    expect(other.isLeader()).toBe(false);
    expect(other.token()).toBeUndefined();

    for (let i = 0; i < 3; i++) {
      expect(await leader.tryAcquire()).toMatchObject({ leader: true, token: ls.token });
      expect(await other.tryAcquire()).toMatchObject({ leader: false });
    }
  });

  it('after the leader crashes (stops renewing), the other leads within the ttl with a larger token', async () => {
    const { a, b } = pair();
    const first = await a.tryAcquire();
    expect(first.leader).toBe(true);
    expect((await b.tryAcquire()).leader).toBe(false);
    // a is never called again, as if its process died: its lease runs out in Redis.
    const taken = await eventually(
      async () => {
        const s = await b.tryAcquire();
        return s.leader ? s : undefined;
      },
      10_000,
      'b to take the lease',
    );
    expect(taken.token!).toBeGreaterThan(first.token!);
    // A resumed a does not get it back: its renewal needs the lease to still hold its token.
    expect(await a.tryAcquire()).toMatchObject({ leader: false, holder: 'replica-b' });
    expect(a.isLeader()).toBe(false);
  });

  it('stop() releases the lease, so the other takes over at its next try without waiting for the ttl', async () => {
    const { a, b } = pair({ ttlMs: 60_000 });
    const first = await a.tryAcquire();
    expect(first.leader).toBe(true);
    expect((await b.tryAcquire()).leader).toBe(false);
    await a.stop();
    expect(a.isLeader()).toBe(false);
    const next = await b.tryAcquire();
    expect(next.leader).toBe(true);
    expect(next.token!).toBeGreaterThan(first.token!);
    await expect(a.tryAcquire()).rejects.toMatchObject({ code: 'LEASE_STOPPED' });
    // Releasing a lease that is no longer ours leaves the new holder alone.
    await a.stop();
    expect(await b.tryAcquire()).toMatchObject({ leader: true, token: next.token });
  });

  it('a replica with the same owner name but without the token does not share the lease', async () => {
    const { make } = pair({ ttlMs: 60_000 });
    const one = make('same-host');
    const two = make('same-host');
    expect((await one.tryAcquire()).leader).toBe(true);
    expect(await two.tryAcquire()).toMatchObject({ leader: false, holder: 'same-host' });
  });

  it("start() renews on a timer and reports changes; stop() hands over to the other replica's timer", async () => {
    const changes: [string, boolean, number | undefined][] = [];
    const { make } = pair({ ttlMs: 3_000, renewEveryMs: 100 });
    const la = make('replica-a', { onChange: (l, t) => changes.push(['a', l, t]) });
    const lb = make('replica-b', { onChange: (l, t) => changes.push(['b', l, t]) });
    la.start();
    await eventually(() => (la.isLeader() ? true : undefined), 10_000, 'a to lead');
    lb.start();
    const tokenA = la.token()!;
    await la.stop();
    await eventually(() => (lb.isLeader() ? true : undefined), 10_000, 'b to lead after a stopped');
    const tokenB = lb.token()!;
    await lb.stop();
    expect(tokenB).toBeGreaterThan(tokenA);
    expect(changes).toEqual([
      ['a', true, tokenA],
      ['a', false, undefined],
      ['b', true, tokenB],
      ['b', false, undefined],
    ]);
  });

  it("counts itself leader only until the last renewal's start + ttl − margin, on the injected clock", async () => {
    const clock = new ManualClock(1_000_000);
    const changes: boolean[] = [];
    const { make } = pair({ ttlMs: 60_000, safetyMarginMs: 5_000, clock, onChange: (l) => changes.push(l) });
    const lease = make('replica-m');
    expect((await lease.tryAcquire()).leader).toBe(true);
    clock.advance(55_000 - 1);
    expect(lease.isLeader()).toBe(true);
    clock.advance(1);
    expect(lease.isLeader()).toBe(false);
    expect(lease.token()).toBeUndefined();
    // Still ours in Redis (no real time passed): a renewal restores it with the same token.
    const again = await lease.tryAcquire();
    expect(again.leader).toBe(true);
    expect(lease.isLeader()).toBe(true);
    // No timer ran and the renewal found it still valid in Redis: nothing in between was reported as a change.
    expect(changes).toEqual([true]);
    lease.markLost(again.token! + 1); // a token we do not hold: ignored
    expect(lease.isLeader()).toBe(true);
    lease.markLost(again.token!);
    expect(lease.isLeader()).toBe(false);
    expect(changes).toEqual([true, false]);
  });

  it('refuses options under which leadership would flap', () => {
    const { make } = pair();
    expect(() => make('x', { ttlMs: 0 })).toThrow(FwError);
    expect(() => make('x', { ttlMs: 1000, renewEveryMs: 950 })).toThrow(/renewEveryMs/);
  });

  it(
    "fencing: a paused ex-leader's write with its old token is refused, " + 'and it stops counting itself leader',
    async () => {
      const { redis, prefix, make } = pair();
      const pausedClock = new ManualClock(5_000_000); // frozen: a never notices on its own that its lease ran out
      const a = make('replica-a', { clock: pausedClock });
      const b = make('replica-b');
      const store = new RedisAlertStore({ redis, prefix });
      const first = await a.tryAcquire();
      expect(await fencedWrite(a, (t) => store.commit(t, [state('r1', 1)], []))).toBe('ok');

      const taken = await eventually(
        async () => {
          const s = await b.tryAcquire();
          return s.leader ? s : undefined;
        },
        10_000,
        'b to take the lease',
      );
      expect(await fencedWrite(b, (t) => store.commit(t, [state('r1', 2)], []))).toBe('ok');

      expect(a.isLeader()).toBe(true); // it believes so: its clock is paused
      expect(await store.commit(first.token!, [state('r1', 99)], [])).toBe('fenced');
      expect(await fencedWrite(a, (t) => store.commit(t, [state('r1', 98)], []))).toBe('fenced');
      expect(a.isLeader()).toBe(false);
      expect(await fencedWrite(a, (t) => store.commit(t, [state('r1', 97)], []))).toBe('not_leader');
      expect((await store.load()).get('r1')?.seq).toBe(2);
      expect(taken.token!).toBeGreaterThan(first.token!);
      // The token counter never expires, so tokens only grow even across idle periods.
      expect(await redis.pttl(alertsKeys(prefix).leaseToken)).toBe(-1);
    },
  );
});
