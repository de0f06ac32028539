/**
 * The silences HTTP API on a real server (buildHttpServer + silenceRoutes on 127.0.0.1, a free port) with a real
 * Redis store, called with fetch: create (201), bad bodies (400 naming each field), the token on every route
 * (401), get and 404, expire with DELETE, the state filter, 503 when Redis is down. Then the CLI
 * (`node dist/main.js silence add | list | expire`) against such a server: ids printed, the table, JSON, the
 * daemon's refusal shown with exit 1, bad usage exit 2, an unreachable daemon named with exit 1.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { buildHttpServer } from '../../../src/http/server.js';
import { silenceRoutes, type SilenceView } from '../../../src/http/silence-routes.js';
import { RedisSilenceStore } from '../../../src/notify/silence-store.js';
import { ManualClock, systemClock, type Clock } from '../../../src/core/clock.js';
import { Metrics } from '../../../src/obs/metrics.js';
import { Readiness } from '../../../src/http/readiness.js';
import { redisClient, uniquePrefix } from '../../support/env.js';
import { freePort } from '../../../src/devenv/free-port.js';

const TOKEN = 'silence-s3cret';
const T0 = Date.UTC(2025, 0, 6, 12, 0);
const H = 3_600_000;

async function startServer(opts: { token?: string; clock?: Clock; redis?: Redis } = {}) {
  const clock = opts.clock ?? new ManualClock(T0);
  const store = new RedisSilenceStore({
    redis: opts.redis ?? redisClient(),
    prefix: uniquePrefix(),
    clock: () => clock.now(),
  });
  const logger = pino({ level: 'silent' });
  const app = buildHttpServer({
    logger,
    metrics: new Metrics({ defaultMetrics: false }),
    readiness: new Readiness(),
    version: 'test',
    routes: [silenceRoutes({ store, token: opts.token ?? TOKEN, clock, logger })],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  onTestFinished(() => app.close());
  const { port } = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, store, clock };
}

function api(url: string, method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
}

const good = {
  matchers: [
    { name: 'funnel', value: 'checkout' },
    { name: 'segment', op: '=~', value: 'payment_provider=(stripe|adyen)' },
  ],
  duration: '2h',
  createdBy: 'ana',
  comment: 'PSP maintenance, CHG-1234',
};

describe('silences HTTP API', () => {
  it('creates a silence (201) and returns it with its state; GET by id; 404 for an unknown id', async () => {
    const { url } = await startServer();
    const r = await api(url, 'POST', '/v1/silences', good);
    expect(r.status).toBe(201);
    const s = (await r.json()) as SilenceView;
    expect(s).toEqual({
      id: expect.any(String),
      state: 'active',
      startsAt: T0,
      endsAt: T0 + 2 * H,
      createdBy: 'ana',
      comment: 'PSP maintenance, CHG-1234',
      createdAt: T0,
      matchers: [
        { name: 'funnel', op: '=', value: 'checkout' },
        { name: 'segment', op: '=~', value: 'payment_provider=(stripe|adyen)' },
      ],
    });
    const got = await api(url, 'GET', `/v1/silences/${s.id}`);
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual(s);
    const missing = await api(url, 'GET', '/v1/silences/nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      error: 'SILENCE_NOT_FOUND',
      message: expect.stringContaining('nope'),
    });
  });

  it('answers 400 BAD_SILENCE naming the field of each problem', async () => {
    const { url } = await startServer();
    const cases: [unknown, string[]][] = [
      [
        { ...good, matchers: [good.matchers[0], { name: 'segment', op: '=~', value: '(stripe' }] },
        ['matchers[1].value: invalid regular expression "(stripe": missing closing ): `(stripe`'],
      ],
      [
        { ...good, duration: undefined, startsAt: '2025-01-06T15:00:00Z', endsAt: '2025-01-06T14:00:00Z' },
        ['endsAt: must be after startsAt (2025-01-06T15:00:00.000Z)'],
      ],
      [
        { ...good, duration: undefined, endsAt: '2025-01-06T11:00:00Z' },
        [expect.stringMatching(/^endsAt: must be in the future/)] as unknown as string[],
      ],
      [
        { ...good, matchers: [{ name: 'rule', op: '=~', value: '.*' }] },
        [expect.stringMatching(/^matchers: at least one matcher must select something/)] as unknown as string[],
      ],
      [
        { matchers: [], duration: 'soon' },
        [
          expect.stringMatching(/^matchers: needs at least one matcher/),
          expect.stringMatching(/^duration: "soon" is not a duration/),
          'createdBy: required',
          'comment: required',
        ] as unknown as string[],
      ],
      [[good], ['the body must be a JSON object with matchers, endsAt or duration, createdBy and comment']],
    ];
    for (const [body, problems] of cases) {
      const r = await api(url, 'POST', '/v1/silences', body);
      expect(r.status).toBe(400);
      const answer = (await r.json()) as { error: string; message: string; problems: string[] };
      expect(answer).toEqual({
        error: 'BAD_SILENCE',
        message: expect.stringMatching(/^the silence was not created: /),
        problems,
      });
    }
    const broken = await api(url, 'POST', '/v1/silences', '{"matchers": [');
    expect(broken.status).toBe(400);
  });

  it('needs the token on every route, reads included', async () => {
    const { url, store } = await startServer();
    const s = await store.create({
      matchers: [{ name: 'funnel', op: '=', value: 'checkout' }],
      startsAt: T0,
      endsAt: T0 + H,
      createdBy: 'ana',
      comment: 'c',
    });
    const routes: [string, string, unknown?][] = [
      ['POST', '/v1/silences', good],
      ['GET', '/v1/silences'],
      ['GET', `/v1/silences/${s.id}`],
      ['DELETE', `/v1/silences/${s.id}`],
    ];
    for (const [method, path, body] of routes) {
      const none = await api(url, method, path, body, null);
      expect(none.status, `${method} ${path} without a token`).toBe(401);
      expect(await none.json()).toMatchObject({ error: 'UNAUTHORIZED' });
      const wrong = await api(url, method, path, body, 'nope');
      expect(wrong.status, `${method} ${path} with a wrong token`).toBe(401);
    }
    // Nothing was created or expired by the refused requests.
    expect(await store.list()).toEqual([s]);
  });

  it('needs no token when none is configured', async () => {
    const { url } = await startServer({ token: '' });
    expect((await api(url, 'POST', '/v1/silences', good, null)).status).toBe(201);
    expect((await api(url, 'GET', '/v1/silences', undefined, null)).status).toBe(200);
  });

  it('DELETE expires a silence (200, state expired), which stays listed; 404 for an unknown id', async () => {
    const { url, clock } = await startServer();
    const s = (await (await api(url, 'POST', '/v1/silences', good)).json()) as SilenceView;
    (clock as ManualClock).advance(10 * 60_000);
    const r = await api(url, 'DELETE', `/v1/silences/${s.id}`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ...s, state: 'expired', endsAt: T0 + 10 * 60_000, updatedAt: T0 + 10 * 60_000 });
    const listed = (await (await api(url, 'GET', '/v1/silences?state=expired')).json()) as { silences: SilenceView[] };
    expect(listed.silences.map((x) => x.id)).toEqual([s.id]);
    const unknown = await api(url, 'DELETE', '/v1/silences/nope');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'SILENCE_NOT_FOUND' });
  });

  it('lists newest first, filtered by state; refuses an unknown state', async () => {
    const { url, clock } = await startServer();
    const post = async (over: Record<string, unknown>) =>
      (await (await api(url, 'POST', '/v1/silences', { ...good, ...over })).json()) as SilenceView;
    const first = await post({});
    (clock as ManualClock).advance(1000);
    const pending = await post({ startsAt: T0 + H });
    (clock as ManualClock).advance(1000);
    const expired = await post({ comment: 'short' });
    await api(url, 'DELETE', `/v1/silences/${expired.id}`);
    expect(pending.state).toBe('pending');

    const ids = async (q: string) =>
      ((await (await api(url, 'GET', `/v1/silences${q}`)).json()) as { silences: SilenceView[] }).silences.map(
        (s) => `${s.id}:${s.state}`,
      );
    expect(await ids('')).toEqual([`${expired.id}:expired`, `${pending.id}:pending`, `${first.id}:active`]);
    expect(await ids('?state=all')).toEqual(await ids(''));
    expect(await ids('?state=active')).toEqual([`${first.id}:active`]);
    expect(await ids('?state=pending')).toEqual([`${pending.id}:pending`]);
    expect(await ids('?state=expired')).toEqual([`${expired.id}:expired`]);
    const bad = await api(url, 'GET', '/v1/silences?state=muted');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      error: 'BAD_REQUEST',
      message: expect.stringContaining('active, pending, expired, all'),
    });
  });

  it('answers 503 SILENCE_REDIS when Redis is down', async () => {
    const redis = new Redis({
      port: 1,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    onTestFinished(() => redis.disconnect());
    const { url } = await startServer({ redis });
    const r = await api(url, 'GET', '/v1/silences');
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ error: 'SILENCE_REDIS' });
  });
});

const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await run(process.execPath, ['dist/main.js', 'silence', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('funnelwatch silence (CLI against the API)', () => {
  it('adds, lists and expires silences', async () => {
    const { url } = await startServer({ clock: systemClock });
    const env = { FUNNELWATCH_URL: url, FUNNELWATCH_TOKEN: TOKEN, USER: 'ana' };

    const added = await cli(
      [
        'add',
        'funnel=checkout',
        'segment=~"payment_provider=(stripe|adyen)"',
        '--duration',
        '2h',
        '--comment',
        'PSP maintenance',
      ],
      env,
    );
    expect(added).toMatchObject({ code: 0, stderr: '' });
    const id = added.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const end = new Date(Date.now() + 3 * H).toISOString();
    const second = await cli(
      [
        'add',
        'rule=signup-drop',
        '--end',
        end,
        '--author',
        'bo',
        '--comment',
        'known issue',
        '--url',
        url,
        '--token',
        TOKEN,
      ],
      {},
    );
    expect(second.code).toBe(0);

    const table = await cli(['list'], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATE\s+MATCHERS\s+STARTS\s+UNTIL\s+AUTHOR\s+COMMENT$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^\S+\s+active\s+rule=signup-drop\s+\S+Z\s+\S+Z\s+bo\s+known issue$/);
    expect(lines[2]).toContain(id);
    expect(lines[2]).toContain('funnel=checkout,segment=~"payment_provider=(stripe|adyen)"');
    expect(lines[2]).toMatch(/\sana\s+PSP maintenance$/);

    const expired = await cli(['expire', id], env);
    expect(expired).toMatchObject({ code: 0 });
    expect(expired.stdout).toContain(`expired ${id}`);

    const json = await cli(['list', '--state', 'expired', '--json'], env);
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout) as SilenceView[];
    expect(listed.map((s) => [s.id, s.state, s.createdBy])).toEqual([[id, 'expired', 'ana']]);
    const activeOnly = await cli(['list', '--state', 'pending'], env);
    expect(activeOnly.stdout.trim()).toBe('no pending silences');
  });

  it("prints the daemon's refusal and exits 1: bad token, a time in the past, an unknown id", async () => {
    const { url } = await startServer({ clock: systemClock });
    const env = { FUNNELWATCH_URL: url, FUNNELWATCH_TOKEN: TOKEN, USER: 'ana' };
    const unauthorized = await cli(['list'], { ...env, FUNNELWATCH_TOKEN: 'wrong' });
    expect(unauthorized.code).toBe(1);
    expect(unauthorized.stderr).toMatch(/the bearer token is not valid/);
    expect(unauthorized.stderr).toMatch(/FUNNELWATCH_TOKEN/);
    const past = await cli(['add', 'funnel=checkout', '--end', '2020-01-01T00:00:00Z', '--comment', 'x'], env);
    expect(past.code).toBe(1);
    expect(past.stderr).toMatch(/endsAt: must be in the future/);
    const unknown = await cli(['expire', 'nope'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no silence with id nope/);
  });

  it('exits 2 on bad usage without calling the daemon', async () => {
    const env = { FUNNELWATCH_URL: 'http://127.0.0.1:1', USER: 'ana' };
    const badRegex = await cli(['add', 'segment=~"(stripe"', '--duration', '2h', '--comment', 'x'], env);
    expect(badRegex.code).toBe(2);
    expect(badRegex.stderr).toMatch(/invalid regular expression "\(stripe": missing closing \): `\(stripe`/);
    const noEnd = await cli(['add', 'funnel=checkout', '--comment', 'x'], env);
    expect(noEnd.code).toBe(2);
    expect(noEnd.stderr).toMatch(/--duration .* or --end/);
    const badDuration = await cli(['add', 'funnel=checkout', '--duration', '2 hours', '--comment', 'x'], env);
    expect(badDuration.code).toBe(2);
    expect(badDuration.stderr).toMatch(/did you mean "2h"/);
    const noAuthor = await cli(['add', 'funnel=checkout', '--duration', '2h', '--comment', 'x'], {
      FUNNELWATCH_URL: 'http://127.0.0.1:1',
    });
    expect(noAuthor.code).toBe(2);
    expect(noAuthor.stderr).toMatch(/--author is required/);
    const noMatchers = await cli(['add', '--duration', '2h'], env);
    expect(noMatchers.code).toBe(2);
    const badState = await cli(['list', '--state', 'muted'], env);
    expect(badState.code).toBe(2);
  });

  it('names the URL when the daemon cannot be reached, exit 1', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await cli(['list'], { FUNNELWATCH_URL: url });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot reach the daemon at ${url}`);
    expect(r.stderr).toMatch(/ECONNREFUSED/);
  });
});
