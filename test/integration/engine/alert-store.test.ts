/**
 * The alert store against the real test Redis, standalone and Cluster: states committed and loaded back unchanged
 * (segments with separator characters included), rules removed with deleteKeys, a commit fenced after another
 * replica took the lease (nothing written), transitions read back in order and capped, and Redis failures as
 * FwErrors with the store's codes.
 */
import { describe, it, expect } from 'vitest';
import { Redis } from 'ioredis';
import { RedisAlertStore } from '../../../src/engine/alert-store.js';
import { transitionId, type AlertTransition } from '../../../src/model/alert-transition.js';
import { stepAlert } from '../../../src/engine/alert-state.js';
import { alertKey } from '../../../src/model/alert-key.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import type { Evidence } from '../../../src/model/evidence.js';
import type { SegmentRef } from '../../../src/model/segment.js';
import { LeaderLease, type RedisLike } from '../../../src/engine/lease.js';
import { alertsKeys } from '../../../src/redis/alert-keys.js';
import { ManualClock } from '../../../src/core/clock.js';
import { redisClient, redisClusterClient, uniquePrefix } from '../../support/env.js';

const T0 = Date.UTC(2025, 0, 6, 12, 0);
const MIN = 60_000;

function evidence(relativeChange: number): Evidence {
  return {
    observed: 412,
    expected: 601,
    observedRate: 0.41,
    expectedRate: 0.6,
    relativeChange,
    volume: 1000,
    windowMinutes: 15,
    statistic: 4.2,
    threshold: 3.1,
    pValue: 1e-5,
    chanceRatePerWeek: 0.1,
    onset: T0 - 2 * MIN,
    evaluatedUpTo: T0,
    baseline: { kind: 'seasonal', weeksUsed: 4, level: 0.6 },
    noise: { tau2: 0.001, tau2Slow: 0.0004 },
  };
}

function firingState(rule: string, segment: SegmentRef | null): AlertState {
  return stepAlert(undefined, rule, segment, { condition: 'breach', evidence: evidence(0.31) }, T0, {
    forMs: 0,
    resolveAfterMs: MIN,
  }).next;
}

function transition(state: AlertState, n: number): AlertTransition {
  return {
    id: `${transitionId(state)}-${n}`,
    kind: 'firing',
    at: T0 + n,
    rule: state.rule,
    funnel: 'checkout',
    segment: state.segment,
    severity: 'critical',
    notify: ['#payments'],
    labels: { team: 'payments' },
    from: 'pending',
    to: 'firing',
    evidence: state.evidence,
    ruleSetVersion: 'v1',
    ...(state.incidentId ? { incidentId: state.incidentId } : {}),
  };
}

describe.each([
  ['standalone Redis', () => redisClient() as RedisLike],
  ['Redis Cluster', () => redisClusterClient() as RedisLike],
] as const)('RedisAlertStore on %s', (_label, client) => {
  async function setup(opts: { maxTransitions?: number } = {}) {
    const redis = client();
    const prefix = uniquePrefix();
    const clock = new ManualClock(T0);
    const lease = (owner: string, ttlMs = 60_000) => new LeaderLease({ redis, prefix, owner, ttlMs, clock });
    const a = lease('replica-a');
    const status = await a.tryAcquire();
    return { redis, prefix, lease, a, token: status.token!, store: new RedisAlertStore({ redis, prefix, ...opts }) };
  }

  it(
    'commits states and loads them back unchanged, keyed by alertKey; ' + 'deleteKeys removes rules that are gone',
    async () => {
      const { store, token } = await setup();
      expect(await store.load()).toEqual(new Map());
      const states = [
        firingState('checkout-conversion', null),
        firingState('checkout-conversion', { dimension: 'platform', value: 'android' }),
        firingState('checkout-conversion', { dimension: 'geo.region', value: 'eu|west=1%' }),
        stepAlert(undefined, 'signup-drop', null, { condition: 'insufficient' }, T0, { forMs: 0, resolveAfterMs: 0 })
          .next,
      ];
      expect(await store.commit(token, states, [])).toBe('ok');
      const loaded = await store.load();
      expect(loaded).toEqual(new Map(states.map((s) => [alertKey(s.rule, s.segment), s])));
      expect([...loaded.keys()]).toContain('checkout-conversion|geo.region=eu%7Cwest%3D1%25');

      // The next look: one state changes, one rule was removed.
      const next = stepAlert(
        states[0],
        'checkout-conversion',
        null,
        { condition: 'ok', evidence: evidence(0.01) },
        T0 + MIN,
        { forMs: 0, resolveAfterMs: 0 },
      ).next;
      expect(await store.commit(token, [next], [], { deleteKeys: [alertKey('signup-drop', null)] })).toBe('ok');
      const again = await store.load();
      expect(again.get('checkout-conversion')).toEqual(next);
      expect(again.has('signup-drop')).toBe(false);
      expect(again.size).toBe(3);
    },
  );

  it('refuses a commit fenced by an old token after another replica took the lease, and writes nothing', async () => {
    const { store, token, a, lease, redis, prefix } = await setup();
    const s1 = firingState('checkout-conversion', null);
    const t1 = transition(s1, 1);
    expect(await store.commit(token, [s1], [t1])).toBe('ok');

    await a.stop(); // releases: the next replica gets a new, larger token
    const b = lease('replica-b');
    const tb = (await b.tryAcquire()).token!;
    expect(tb).toBeGreaterThan(token);

    const s2 = { ...s1, seq: 42 };
    expect(await store.commit(token, [s2], [transition(s2, 2)], { deleteKeys: ['checkout-conversion'] })).toBe(
      'fenced',
    );
    expect(await store.load()).toEqual(new Map([['checkout-conversion', s1]]));
    expect(await store.recentTransitions(10)).toEqual([t1]);

    expect(await store.commit(tb, [s2], [])).toBe('ok');
    expect((await store.load()).get('checkout-conversion')?.seq).toBe(42);

    // No lease at all (expired or never taken): every token is fenced.
    await redis.del(alertsKeys(prefix).lease);
    expect(await store.commit(tb, [s1], [])).toBe('fenced');
  });

  it('reads transitions back in commit order, newest last, the last `limit` of them', async () => {
    const { store, token } = await setup();
    const s = firingState('checkout-conversion', { dimension: 'platform', value: 'ios' });
    const all = [1, 2, 3, 4, 5].map((n) => transition(s, n));
    expect(await store.commit(token, [s], all.slice(0, 3))).toBe('ok');
    expect(await store.commit(token, [], all.slice(3))).toBe('ok');
    expect(await store.recentTransitions(10)).toEqual(all);
    expect(await store.recentTransitions(2)).toEqual(all.slice(3));
    expect(await store.recentTransitions(0)).toEqual([]);
  });

  it('caps the transition stream near maxTransitions', async () => {
    const { store, token, redis, prefix } = await setup({ maxTransitions: 100 });
    const s = firingState('checkout-conversion', null);
    for (let batch = 0; batch < 10; batch++) {
      expect(
        await store.commit(
          token,
          [],
          Array.from({ length: 100 }, (_, i) => transition(s, batch * 100 + i)),
        ),
      ).toBe('ok');
    }
    // MAXLEN ~ trims whole stream nodes (100 entries by default), so the length stays within one node of the cap.
    const len = await redis.xlen(alertsKeys(prefix).transitions);
    expect(len).toBeGreaterThanOrEqual(100);
    expect(len).toBeLessThan(300);
    const recent = await store.recentTransitions(3);
    expect(recent.map((t) => t.at)).toEqual([T0 + 997, T0 + 998, T0 + 999]);
  });

  it('commits thousands of states in one call', async () => {
    const { store, token } = await setup();
    const states = Array.from({ length: 5000 }, (_, i) =>
      firingState('checkout-conversion', { dimension: 'entity', value: `v${i}` }),
    );
    expect(await store.commit(token, states, [])).toBe('ok');
    expect((await store.load()).size).toBe(5000);
    expect(
      await store.commit(token, [], [], { deleteKeys: states.slice(0, 4500).map((s) => alertKey(s.rule, s.segment)) }),
    ).toBe('ok');
    expect((await store.load()).size).toBe(500);
  });

  it('skips a stored state it cannot read instead of failing the whole load', async () => {
    const { store, token, redis, prefix } = await setup();
    const s = firingState('checkout-conversion', null);
    expect(await store.commit(token, [s], [])).toBe('ok');
    await redis.hset(
      alertsKeys(prefix).state,
      'broken',
      '{not json',
      'odd',
      '{"rule":"x","status":"exploded","seq":1,"since":1}',
    );
    expect(await store.load()).toEqual(new Map([['checkout-conversion', s]]));
  });

  it('a key of the wrong type is a non-retriable ALERT_REDIS_REPLY', async () => {
    const { store, redis, prefix } = await setup();
    await redis.set(alertsKeys(prefix).state, 'not a hash');
    await expect(store.load()).rejects.toMatchObject({ code: 'ALERT_REDIS_REPLY', retriable: false });
  });
});

it('an unreachable Redis is a retriable ALERT_REDIS_UNAVAILABLE', async () => {
  const redis = new Redis({
    host: '127.0.0.1',
    port: 1,
    lazyConnect: true,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  try {
    const store = new RedisAlertStore({ redis, prefix: uniquePrefix() });
    await expect(store.load()).rejects.toMatchObject({ code: 'ALERT_REDIS_UNAVAILABLE', retriable: true });
    await expect(store.commit(1, [], [])).rejects.toMatchObject({ code: 'ALERT_REDIS_UNAVAILABLE', retriable: true });
    await expect(store.recentTransitions(5)).rejects.toMatchObject({
      code: 'ALERT_REDIS_UNAVAILABLE',
      retriable: true,
    });
  } finally {
    redis.disconnect();
  }
});
