/**
 * The deploy store against the real test Redis, standalone and Cluster: markers added once (a resend, even many at
 * the same time, is a duplicate that returns the first), listed newest first with every filter, read by time span
 * for correlation, trimmed past the retention on writes (and hidden from reads before that), unreadable entries
 * skipped with one warning, Redis failures as retriable DEPLOY_REDIS.
 */
import { describe, it, expect } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { DEPLOY_RETENTION_MS, RedisDeployStore, deploysKeys } from '../../../src/deploys/deploy-store.js';
import { validateDeployInput, type Deploy } from '../../../src/deploys/deploy.js';
import type { RedisLike } from '../../../src/redis/client.js';
import { FwError } from '../../../src/core/errors.js';
import { redisClient, redisClusterClient, uniquePrefix } from '../../support/env.js';

const T0 = Date.UTC(2025, 0, 6, 12, 0);
const MIN = 60_000;
const DAY = 86_400_000;

function marker(body: Record<string, unknown>, now = T0): Deploy {
  const r = validateDeployInput({ version: 'v1', ...body }, now);
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.value;
}

function logSink() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

describe.each([
  ['standalone Redis', () => redisClient() as RedisLike],
  ['Redis Cluster', () => redisClusterClient() as RedisLike],
] as const)('RedisDeployStore on %s', (_label, client) => {
  function setup(retentionMs?: number) {
    const redis = client();
    const prefix = uniquePrefix();
    let now = T0;
    const { lines, logger } = logSink();
    const store = new RedisDeployStore({
      redis,
      prefix,
      clock: () => now,
      logger,
      ...(retentionMs ? { retentionMs } : {}),
    });
    return {
      redis,
      prefix,
      store,
      lines,
      setNow: (t: number) => {
        now = t;
      },
    };
  }

  it('adds a marker once: a resend is a duplicate and returns the first one as stored', async () => {
    const { store, redis, prefix } = setup();
    const first = marker({
      service: 'payments-service',
      ts: T0 - 5 * MIN,
      author: 'ana',
      attrs: { payment_provider: 'stripe' },
    });
    expect(await store.add(first)).toEqual({ deploy: first, duplicate: false });
    expect(await store.get(first.id)).toEqual(first);

    // The same (service, version, environment, ts) sent again later with other details: the first one stays.
    const resend = marker({ service: 'payments-service', ts: T0 - 5 * MIN, author: 'bo' }, T0 + MIN);
    expect(resend.id).toBe(first.id);
    expect(await store.add(resend)).toEqual({ deploy: first, duplicate: true });
    expect(await store.list()).toEqual([first]);

    expect(deploysKeys(prefix)).toEqual({ byTime: `${prefix}:{deploys}:by-time`, data: `${prefix}:{deploys}:data` });
    expect(await redis.zcard(deploysKeys(prefix).byTime)).toBe(1);
    expect(await redis.hlen(deploysKeys(prefix).data)).toBe(1);
    expect(await store.get('no-such-id')).toBeUndefined();
  });

  it('stores one of many concurrent sends of the same marker', async () => {
    const { store } = setup();
    const d = marker({ service: 'checkout-api', ts: T0 - MIN });
    const results = await Promise.all(Array.from({ length: 20 }, () => store.add(d)));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(results.every((r) => r.deploy.id === d.id)).toBe(true);
    expect(await store.list()).toHaveLength(1);
  });

  it('lists newest first, filtered by time, service and environment (case-insensitive), up to a limit', async () => {
    const { store } = setup();
    const a = marker({ service: 'payments-service', ts: T0 - 60 * MIN });
    const b = marker({ service: 'checkout-api', ts: T0 - 30 * MIN, environment: 'staging' });
    const c = marker({ service: 'payments-service', ts: T0 - 10 * MIN, version: 'v2' });
    const d = marker({ service: 'Payments-Service', ts: T0 - 10 * MIN, version: 'v3', environment: 'staging' });
    for (const x of [c, a, d, b]) await store.add(x);
    const ids = async (q: Parameters<RedisDeployStore['list']>[0]) =>
      (await store.list(q)).map((x) => x.version + '@' + x.environment);

    const all = await store.list();
    expect(all.map((x) => x.ts)).toEqual([c.ts, d.ts, b.ts, a.ts].sort((p, q) => q - p));
    expect(await ids({ since: T0 - 30 * MIN })).toHaveLength(3);
    expect(await ids({ since: T0 - 30 * MIN, until: T0 - 30 * MIN })).toEqual(['v1@staging']);
    expect(await ids({ until: T0 - 31 * MIN })).toEqual(['v1@production']);
    expect((await ids({ service: 'payments-service' })).sort()).toEqual([
      'v1@production',
      'v2@production',
      'v3@staging',
    ]);
    expect(await ids({ service: 'PAYMENTS-service', environment: 'Staging' })).toEqual(['v3@staging']);
    expect(await ids({ environment: 'staging', limit: 1 })).toHaveLength(1);
    expect(await ids({ limit: 2 })).toHaveLength(2);
    expect(await ids({ limit: 0 })).toEqual([]);
    expect(await ids({ since: T0, until: T0 - MIN })).toEqual([]);
    expect(await ids({ service: 'nope' })).toEqual([]);
  });

  it('pages through many markers when a filter skips most of them', async () => {
    const { store } = setup();
    for (let i = 0; i < 700; i++)
      await store.add(marker({ service: i % 7 === 0 ? 'rare' : 'common', ts: T0 - i * 1000, version: `v${i}` }));
    const rare = await store.list({ service: 'rare', limit: 1000 });
    expect(rare).toHaveLength(100);
    expect(rare.map((d) => d.version)).toEqual(Array.from({ length: 100 }, (_, k) => `v${k * 7}`));
    expect(await store.list()).toHaveLength(100);
    expect(await store.list({ limit: 650 })).toHaveLength(650);
  });

  it('reads a time span oldest first for correlation, both ends included', async () => {
    const { store } = setup();
    const ds = [120, 90, 8, 0].map((m) => marker({ service: `s${m}`, ts: T0 - m * MIN }));
    for (const d of ds) await store.add(d);
    expect((await store.between(T0 - 90 * MIN, T0 - 8 * MIN)).map((d) => d.service)).toEqual(['s90', 's8']);
    expect((await store.between(T0 - 2 * 60 * MIN, T0 + 2 * MIN)).map((d) => d.service)).toEqual([
      's120',
      's90',
      's8',
      's0',
    ]);
    expect(await store.between(T0, T0 - 1)).toEqual([]);
  });

  it(
    'trims markers past the retention on the next write, ' + 'hides them from reads before that, refuses adding one',
    async () => {
      const { store, setNow, redis, prefix } = setup(7 * DAY);
      expect(store.retentionMs).toBe(7 * DAY);
      const old = marker({ service: 'old', ts: T0 - 6 * DAY });
      const recent = marker({ service: 'recent', ts: T0 - DAY });
      await store.add(old);
      await store.add(recent);
      setNow(T0 + 2 * DAY);
      // Past the retention but not yet trimmed: not listed.
      expect((await store.list()).map((d) => d.service)).toEqual(['recent']);
      expect(await redis.zcard(deploysKeys(prefix).byTime)).toBe(2);

      await store.add(marker({ service: 'new', ts: T0 + 2 * DAY }, T0 + 2 * DAY));
      expect(await redis.zcard(deploysKeys(prefix).byTime)).toBe(2);
      expect(await redis.hget(deploysKeys(prefix).data, old.id)).toBeNull();
      expect((await store.list()).map((d) => d.service)).toEqual(['new', 'recent']);

      const err = await store.add(marker({ service: 'ancient', ts: T0 - 6 * DAY })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FwError);
      expect(err).toMatchObject({ code: 'DEPLOY_TOO_OLD', retriable: false });
      expect(DEPLOY_RETENTION_MS).toBe(30 * DAY);
    },
  );

  it('skips an unreadable entry with one warning', async () => {
    const { store, redis, prefix, lines } = setup();
    const good = marker({ service: 'good', ts: T0 - MIN });
    await store.add(good);
    await redis.zadd(deploysKeys(prefix).byTime, T0 - 2 * MIN, 'broken');
    await redis.hset(deploysKeys(prefix).data, 'broken', '{"not":"a deploy"}');
    expect(await store.list()).toEqual([good]);
    expect(await store.between(T0 - 10 * MIN, T0)).toEqual([good]);
    expect(lines.filter((l) => l.field === 'broken')).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, msg: expect.stringContaining('unreadable deploy marker skipped') });
  });
});

describe('RedisDeployStore when Redis is down', () => {
  it('fails with retriable DEPLOY_REDIS errors', async () => {
    const redis = new Redis({
      port: 1,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    const store = new RedisDeployStore({ redis, prefix: uniquePrefix() });
    const d = marker({ service: 's' });
    for (const op of [() => store.add(d), () => store.list(), () => store.between(0, T0), () => store.get('x')]) {
      const err = await op().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FwError);
      expect(err).toMatchObject({ code: 'DEPLOY_REDIS', retriable: true });
    }
    redis.disconnect();
  });

  it('refuses a retention that is not a positive number', () => {
    expect(
      () => new RedisDeployStore({ redis: new Redis({ lazyConnect: true }), prefix: 'x', retentionMs: 0 }),
    ).toThrow(/retention/);
  });
});
