/**
 * The silence store against the real test Redis, standalone and Cluster: silences created and read back (list
 * newest first, get, active at a time), expired early (an active one ends now, a pending one never starts, an
 * expired one is left alone and stays listed), garbage collected 7 days after they ended, unreadable entries
 * skipped with one warning, and Redis failures as retriable SILENCE_REDIS errors.
 */
import { describe, it, expect } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { RedisSilenceStore, SILENCE_RETENTION_MS, silencesKey } from '../../../src/notify/silence-store.js';
import { parseMatcher, type SilenceInput } from '../../../src/notify/silences.js';
import type { RedisLike } from '../../../src/engine/lease.js';
import { FwError } from '../../../src/core/errors.js';
import { redisClient, redisClusterClient, uniquePrefix } from '../../support/env.js';

const T0 = Date.UTC(2025, 0, 6, 12, 0);
const H = 3_600_000;

function input(over: Partial<SilenceInput> = {}): SilenceInput {
  return {
    matchers: [parseMatcher('funnel=checkout'), parseMatcher('segment=~"payment_provider=(stripe|adyen)"')],
    startsAt: T0,
    endsAt: T0 + 2 * H,
    createdBy: 'ana',
    comment: 'PSP maintenance',
    ...over,
  };
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
] as const)('RedisSilenceStore on %s', (_label, client) => {
  function setup() {
    const redis = client();
    const prefix = uniquePrefix();
    let now = T0;
    const { lines, logger } = logSink();
    const store = new RedisSilenceStore({ redis, prefix, clock: () => now, logger });
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

  it('creates silences and reads them back: list newest first, get by id, active at a time', async () => {
    const { store, setNow, redis, prefix } = setup();
    expect(await store.list()).toEqual([]);
    const a = await store.create(input());
    expect(a).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), ...input(), createdAt: T0 });
    setNow(T0 + 1000);
    const b = await store.create(
      input({ matchers: [parseMatcher('rule=signup-drop')], startsAt: T0 + H, endsAt: T0 + 3 * H }),
    );
    expect(b.id).not.toBe(a.id);

    expect(await store.list()).toEqual([b, a]);
    expect(await store.get(a.id)).toEqual(a);
    expect(await store.get('no-such-id')).toBeUndefined();
    expect((await store.active(T0)).map((s) => s.id)).toEqual([a.id]);
    expect((await store.active(T0 + H)).map((s) => s.id)).toEqual([b.id, a.id]);
    expect((await store.active(T0 + 2 * H)).map((s) => s.id)).toEqual([b.id]);
    expect(await store.active(T0 + 3 * H)).toEqual([]);
    // Under the alert keys' hash tag, one field per silence.
    expect(silencesKey(prefix)).toBe(`${prefix}:{alerts}:silences`);
    expect(await redis.hlen(silencesKey(prefix))).toBe(2);
  });

  it(
    'expires early: an active one ends now, ' +
      'a pending one never starts, an expired one is left as it is and stays listed',
    async () => {
      const { store } = setup();
      const active = await store.create(input());
      const pending = await store.create(input({ startsAt: T0 + H, endsAt: T0 + 2 * H }));

      const ended = await store.expire(active.id, T0 + 10 * 60_000);
      expect(ended).toEqual({ ...active, endsAt: T0 + 10 * 60_000, updatedAt: T0 + 10 * 60_000 });
      expect(await store.get(active.id)).toEqual(ended);
      expect(await store.active(T0 + 10 * 60_000)).toEqual([]);

      const never = await store.expire(pending.id, T0 + 20 * 60_000);
      expect(never).toMatchObject({ startsAt: T0 + 20 * 60_000, endsAt: T0 + 20 * 60_000 });

      const again = await store.expire(active.id, T0 + H);
      expect(again).toEqual(ended);
      expect(await store.expire('no-such-id', T0)).toBeUndefined();
      expect((await store.list()).map((s) => s.id).sort()).toEqual([active.id, pending.id].sort());
    },
  );

  it('collects silences that ended more than 7 days ago, and only those', async () => {
    const { store, setNow, redis, prefix, lines } = setup();
    const old = await store.create(input({ endsAt: T0 + H }));
    const recent = await store.create(input({ endsAt: T0 + 2 * H }));
    setNow(T0 + H + SILENCE_RETENTION_MS - 1);
    expect(await store.gc(T0 + H + SILENCE_RETENTION_MS - 1)).toEqual([]);
    expect(await store.list()).toHaveLength(2);

    setNow(T0 + H + SILENCE_RETENTION_MS);
    expect((await store.list()).map((s) => s.id)).toEqual([recent.id]);
    expect(await redis.hexists(silencesKey(prefix), old.id)).toBe(0);
    expect(lines.some((l) => l.msg === 'old silences garbage collected')).toBe(true);

    // active() collects too, as the minute tick calls it.
    expect(await store.active(T0 + 2 * H + SILENCE_RETENTION_MS)).toEqual([]);
    expect(await redis.hlen(silencesKey(prefix))).toBe(0);
  });

  it('skips unreadable entries with one warning each, and still answers with the rest', async () => {
    const { store, redis, prefix, lines } = setup();
    const good = await store.create(input());
    const key = silencesKey(prefix);
    await redis.hset(key, 'broken', '{"id": "broken", "matchers": ');
    await redis.hset(
      key,
      'bad-regex',
      JSON.stringify({ ...good, id: 'bad-regex', matchers: [{ name: 'a', op: '=~', value: '(' }] }),
    );
    await redis.hset(key, 'moved', JSON.stringify({ ...good, id: 'other' }));
    expect(await store.list()).toEqual([good]);
    expect(await store.active(T0)).toEqual([good]);
    expect(await store.get('broken')).toBeUndefined();
    const warned = lines
      .filter((l) => l.level === 40)
      .map((l) => l.field)
      .sort();
    expect(warned).toEqual(['bad-regex', 'broken', 'moved']);
  });
});

describe('RedisSilenceStore when Redis is unreachable', () => {
  it('fails with retriable SILENCE_REDIS errors', async () => {
    const redis = new Redis({
      port: 1,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    const store = new RedisSilenceStore({ redis, prefix: uniquePrefix() });
    for (const op of [
      () => store.list(),
      () => store.create(input()),
      () => store.get('x'),
      () => store.expire('x', T0),
      () => store.active(T0),
    ]) {
      const err = await op().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FwError);
      expect(err).toMatchObject({ code: 'SILENCE_REDIS', retriable: true });
    }
    redis.disconnect();
  });
});
