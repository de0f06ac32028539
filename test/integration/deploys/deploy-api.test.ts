/**
 * The deploy markers HTTP API on a real server (buildHttpServer + deployRoutes on 127.0.0.1, a free port) with a
 * real Redis store, called with fetch: record (201), the same marker again (200, duplicate), bad bodies (400 naming
 * each field), the token on both routes (401), the list and its filters, bad queries, 503 when Redis is down, and
 * onDeploy called for new markers only. Then the CLI (`node dist/main.js deploy`, `deploys list`) against such a
 * server: ids printed, "already recorded", the table and JSON, the daemon's refusal with exit 1, bad usage exit 2,
 * an unreachable daemon named with exit 1.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { buildHttpServer } from '../../../src/http/server.js';
import { deployRoutes, type DeployAnswer } from '../../../src/http/deploy-routes.js';
import { RedisDeployStore } from '../../../src/deploys/deploy-store.js';
import type { Deploy } from '../../../src/deploys/deploy.js';
import { ManualClock, systemClock, type Clock } from '../../../src/core/clock.js';
import { Metrics } from '../../../src/obs/metrics.js';
import { Readiness } from '../../../src/http/readiness.js';
import { redisClient, uniquePrefix } from '../../support/env.js';
import { freePort } from '../../../src/devenv/free-port.js';

const TOKEN = 'deploy-s3cret';
const T0 = Date.UTC(2025, 0, 6, 12, 0);
const MIN = 60_000;
const H = 3_600_000;

async function startServer(
  opts: { token?: string; clock?: Clock; redis?: Redis; onDeploy?: (d: Deploy) => void | Promise<void> } = {},
) {
  const clock = opts.clock ?? new ManualClock(T0);
  const store = new RedisDeployStore({
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
    routes: [
      deployRoutes({
        store,
        token: opts.token ?? TOKEN,
        clock,
        logger,
        ...(opts.onDeploy ? { onDeploy: opts.onDeploy } : {}),
      }),
    ],
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
  service: 'payments-service',
  version: 'v2.3.1',
  ts: '2025-01-06T11:52:00Z',
  commit: '3f9c2ab',
  author: 'ana',
  url: 'https://ci.example.com/builds/220',
  attrs: { payment_provider: 'stripe' },
};

describe('deploys HTTP API', () => {
  it('records a marker (201), answers a resend with the stored one (200, duplicate), calls onDeploy once', async () => {
    const seen: Deploy[] = [];
    const { url, store, clock } = await startServer({ onDeploy: (d) => void seen.push(d) });
    const r = await api(url, 'POST', '/v1/deploys', good);
    expect(r.status).toBe(201);
    const d = (await r.json()) as DeployAnswer;
    expect(d).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{24}$/),
      service: 'payments-service',
      version: 'v2.3.1',
      environment: 'production',
      ts: T0 - 8 * MIN,
      commit: '3f9c2ab',
      author: 'ana',
      url: 'https://ci.example.com/builds/220',
      attrs: { payment_provider: 'stripe' },
      receivedAt: T0,
      duplicate: false,
    });
    (clock as ManualClock).advance(MIN);
    const again = await api(url, 'POST', '/v1/deploys', { ...good, author: 'retry-bot' });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ ...d, duplicate: true });
    expect(seen.map((x) => x.id)).toEqual([d.id]);
    const { duplicate: _, ...stored } = d;
    expect(await store.list()).toEqual([stored]);
  });

  it('takes a marker that differs only in the case of service, version or environment for a duplicate', async () => {
    const seen: Deploy[] = [];
    const { url, store } = await startServer({ onDeploy: (d) => void seen.push(d) });
    const first = { ...good, service: 'Payments-Service', version: 'V2.3.1', environment: 'Production' };
    const r = await api(url, 'POST', '/v1/deploys', first);
    expect(r.status).toBe(201);
    const d = (await r.json()) as DeployAnswer;
    for (const resend of [
      { ...good, environment: 'production' },
      { ...good, service: 'PAYMENTS-SERVICE', version: 'v2.3.1', environment: 'PRODUCTION' },
    ]) {
      const again = await api(url, 'POST', '/v1/deploys', resend);
      expect(again.status).toBe(200);
      // The first spelling is kept for display.
      expect(await again.json()).toEqual({ ...d, duplicate: true });
    }
    expect(d).toMatchObject({ service: 'Payments-Service', version: 'V2.3.1', environment: 'Production' });
    expect(seen.map((x) => x.id)).toEqual([d.id]);
    expect((await store.list()).map((x) => x.id)).toEqual([d.id]);
  });

  it('answers 400 BAD_DEPLOY naming the field of each problem', async () => {
    const { url, store } = await startServer();
    const cases: [unknown, (string | RegExp)[]][] = [
      [{ version: 'v1' }, ['service: required: the deployed service, e.g. payments-service']],
      [
        { ...good, service: 'payments service' },
        [/^service: "payments service" is not a service name: letters, digits, \., _, - and \//],
      ],
      [{ ...good, version: 2.1 }, [/^version: must be a string/]],
      [{ ...good, ts: '2025-01-06 11:52' }, [/^ts: not a time \(ISO 8601 with a zone/]],
      [{ ...good, ts: '2025-01-06T12:10:00Z' }, [/^ts: more than 5 minutes in the future/]],
      [
        { ...good, ts: '2024-11-01T00:00:00Z' },
        [/^ts: 2024-11-01T00:00:00.000Z is older than the deploy retention \(30 days\)/],
      ],
      [{ ...good, url: 'ci/builds/220' }, [/^url: not a URL/]],
      [{ ...good, attrs: { platform: ['android'] } }, ['attrs.platform: must be a string, number or boolean']],
      [{ ...good, enviroment: 'staging' }, ['enviroment: unknown field (did you mean "environment"?)']],
      [[good], [/^the body must be a JSON object/]],
    ];
    for (const [body, problems] of cases) {
      const r = await api(url, 'POST', '/v1/deploys', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      const answer = (await r.json()) as { error: string; message: string; problems: string[] };
      expect(answer).toMatchObject({
        error: 'BAD_DEPLOY',
        message: expect.stringMatching(/^the deploy marker was not recorded: /),
      });
      expect(answer.problems).toHaveLength(problems.length);
      problems.forEach((p, i) =>
        typeof p === 'string' ? expect(answer.problems[i]).toBe(p) : expect(answer.problems[i]).toMatch(p),
      );
    }
    const broken = await api(url, 'POST', '/v1/deploys', '{"service": ');
    expect(broken.status).toBe(400);
    const huge = await api(url, 'POST', '/v1/deploys', { ...good, author: 'x'.repeat(100_000) });
    expect(huge.status).toBe(413);
    expect(await store.list()).toEqual([]);
  });

  it('needs the token on both routes; nothing is recorded without it', async () => {
    const { url, store } = await startServer();
    for (const [method, path, body] of [
      ['POST', '/v1/deploys', good],
      ['GET', '/v1/deploys', undefined],
    ] as const) {
      const none = await api(url, method, path, body, null);
      expect(none.status, `${method} without a token`).toBe(401);
      expect(await none.json()).toMatchObject({ error: 'UNAUTHORIZED' });
      const wrong = await api(url, method, path, body, 'nope');
      expect(wrong.status, `${method} with a wrong token`).toBe(401);
    }
    expect(await store.list()).toEqual([]);
  });

  it('needs no token when none is configured', async () => {
    const { url } = await startServer({ token: '' });
    expect((await api(url, 'POST', '/v1/deploys', good, null)).status).toBe(201);
    expect((await api(url, 'GET', '/v1/deploys', undefined, null)).status).toBe(200);
  });

  it('lists newest first with since (duration, ISO, ms), until, service, environment and limit', async () => {
    const { url } = await startServer();
    const post = async (over: Record<string, unknown>) => {
      const r = await api(url, 'POST', '/v1/deploys', { service: 'payments-service', version: 'v1', ...over });
      expect(r.status).toBe(201);
    };
    await post({ ts: T0 - 3 * H, version: 'v1' });
    await post({ ts: T0 - 2 * H, version: 'v2', environment: 'staging' });
    await post({ ts: T0 - 30 * MIN, version: 'v3' });
    await post({ ts: T0 - 10 * MIN, service: 'checkout-api', version: 'c9' });
    const versions = async (q: string) => {
      const r = await api(url, 'GET', `/v1/deploys${q}`);
      expect(r.status, q).toBe(200);
      return ((await r.json()) as { deploys: Deploy[] }).deploys.map((d) => d.version);
    };
    expect(await versions('')).toEqual(['c9', 'v3', 'v2', 'v1']);
    expect(await versions('?since=1h')).toEqual(['c9', 'v3']);
    expect(await versions(`?since=${encodeURIComponent('2025-01-06T10:00:00Z')}`)).toEqual(['c9', 'v3', 'v2']);
    expect(await versions(`?since=${T0 - 2 * H}&until=${T0 - 30 * MIN}`)).toEqual(['v3', 'v2']);
    expect(await versions('?service=payments-service')).toEqual(['v3', 'v2', 'v1']);
    expect(await versions('?service=payments-service&environment=staging')).toEqual(['v2']);
    expect(await versions('?limit=2')).toEqual(['c9', 'v3']);
    expect(await versions('?since=1m')).toEqual([]);
  });

  it('answers 400 BAD_REQUEST for a bad query, saying what to write', async () => {
    const { url } = await startServer();
    const cases: [string, RegExp][] = [
      ['?since=yesterday', /^since: "yesterday" is not a time: give an ISO 8601 time/],
      ['?since=24hours', /^since: "24hours" is not a duration.*did you mean "24h"/],
      ['?until=2025-13-01T00:00:00Z', /^until: /],
      ['?limit=0', /^limit: give a whole number from 1 to 1000; got "0"/],
      ['?limit=ten', /^limit: /],
      ['?srvice=x', /^unknown query parameter "srvice"; the known ones are since, until, service, environment, limit/],
      ['?service=a&service=b', /^give service once/],
      ['?service=', /^service: must not be empty/],
    ];
    for (const [q, message] of cases) {
      const r = await api(url, 'GET', `/v1/deploys${q}`);
      expect(r.status, q).toBe(400);
      const answer = (await r.json()) as { error: string; message: string };
      expect(answer.error).toBe('BAD_REQUEST');
      expect(answer.message, q).toMatch(message);
    }
  });

  it('answers 201 even when onDeploy fails or hangs: forwarding never holds up the sender', async () => {
    const { url } = await startServer({ onDeploy: () => new Promise(() => undefined) });
    expect((await api(url, 'POST', '/v1/deploys', good)).status).toBe(201);
    const other = await startServer({
      onDeploy: () => {
        throw new Error('boom');
      },
    });
    expect((await api(other.url, 'POST', '/v1/deploys', good)).status).toBe(201);
    const third = await startServer({ onDeploy: () => Promise.reject(new Error('boom')) });
    expect((await api(third.url, 'POST', '/v1/deploys', good)).status).toBe(201);
  });

  it('answers 503 DEPLOY_REDIS when Redis is down', async () => {
    const redis = new Redis({
      port: 1,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    onTestFinished(() => redis.disconnect());
    const { url } = await startServer({ redis });
    for (const [method, body] of [
      ['GET', undefined],
      ['POST', good],
    ] as const) {
      const r = await api(url, method, '/v1/deploys', body);
      expect(r.status).toBe(503);
      expect(await r.json()).toMatchObject({ error: 'DEPLOY_REDIS' });
    }
  });
});

const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await run(process.execPath, ['dist/main.js', ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('funnelwatch deploy / deploys list (CLI against the API)', () => {
  it('records markers, recognises a resend, lists them as a table and as JSON', async () => {
    const { url, store } = await startServer({ clock: systemClock });
    const env = { FUNNELWATCH_URL: url, FUNNELWATCH_TOKEN: TOKEN };
    const ts = new Date(Date.now() - 8 * MIN).toISOString();

    const args = [
      'deploy',
      '--service',
      'payments-service',
      '--version',
      'v2.3.1',
      '--ts',
      ts,
      '--commit',
      '3f9c2ab',
      '--author',
      'ana',
      '--url',
      'https://ci.example.com/builds/220',
      '--attr',
      'payment_provider=stripe',
      '--attr',
      'region=eu',
    ];
    const added = await cli(args, env);
    expect(added).toMatchObject({ code: 0, stderr: '' });
    const id = added.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{24}$/);
    expect(await store.get(id)).toMatchObject({
      service: 'payments-service',
      version: 'v2.3.1',
      environment: 'production',
      ts: Date.parse(ts),
      commit: '3f9c2ab',
      author: 'ana',
      url: 'https://ci.example.com/builds/220',
      attrs: { payment_provider: 'stripe', region: 'eu' },
    });

    const again = await cli(args, env);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(id);
    expect(again.stderr).toMatch(/already recorded/);

    // --api and --token as flags; no --ts: the daemon stamps it.
    const second = await cli([
      'deploy',
      '--service',
      'checkout-api',
      '--version',
      '41',
      '--environment',
      'staging',
      '--api',
      url,
      '--token',
      TOKEN,
    ]);
    expect(second.code).toBe(0);

    const table = await cli(['deploys', 'list'], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+SERVICE\s+VERSION\s+ENVIRONMENT\s+COMMIT\s+AUTHOR\s+ID\s+ATTRS$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^\S+Z\s+checkout-api\s+41\s+staging\s+-\s+-\s+[0-9a-f]{24}$/);
    expect(lines[2]).toMatch(
      new RegExp(
        `^\\S+Z\\s+payments-service\\s+v2\\.3\\.1\\s+production\\s+3f9c2ab\\s+ana\\s+${id}` +
          `\\s+payment_provider=stripe,region=eu$`,
      ),
    );

    const json = await cli(['deploys', 'list', '--service', 'payments-service', '--json'], env);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as Deploy[]).map((d) => d.id)).toEqual([id]);
    const none = await cli(['deploys', 'list', '--since', '1m', '--service', 'payments-service'], env);
    expect(none).toMatchObject({ code: 0, stdout: 'no deploys of payments-service in the last 1m\n' });
  });

  it("prints the daemon's refusal and exits 1: bad token, a marker older than the retention", async () => {
    const { url } = await startServer({ clock: systemClock });
    const env = { FUNNELWATCH_URL: url, FUNNELWATCH_TOKEN: TOKEN };
    const unauthorized = await cli(['deploy', '--service', 's', '--version', '1'], {
      ...env,
      FUNNELWATCH_TOKEN: 'wrong',
    });
    expect(unauthorized.code).toBe(1);
    expect(unauthorized.stderr).toMatch(/the bearer token is not valid/);
    expect(unauthorized.stderr).toMatch(/FUNNELWATCH_TOKEN/);
    const listUnauthorized = await cli(['deploys', 'list'], { FUNNELWATCH_URL: url });
    expect(listUnauthorized.code).toBe(1);
    const old = await cli(['deploy', '--service', 's', '--version', '1', '--ts', '2020-01-01T00:00:00Z'], env);
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/the daemon refused the deploy marker/);
    expect(old.stderr).toMatch(/ts: 2020-01-01T00:00:00.000Z is older than the deploy retention/);
  });

  it('exits 2 on bad usage without calling the daemon', async () => {
    const env = { FUNNELWATCH_URL: 'http://127.0.0.1:1' };
    const noService = await cli(['deploy', '--version', 'v1'], env);
    expect(noService.code).toBe(2);
    expect(noService.stderr).toMatch(/--service is required/);
    const noVersion = await cli(['deploy', '--service', 's'], env);
    expect(noVersion.code).toBe(2);
    expect(noVersion.stderr).toMatch(/--version is required/);
    const badAttr = await cli(['deploy', '--service', 's', '--version', '1', '--attr', 'android'], env);
    expect(badAttr.code).toBe(2);
    expect(badAttr.stderr).toMatch(/--attr "android": write key=value/);
    const badFields = await cli(
      ['deploy', '--service', 'a b', '--version', '1', '--url', 'nope', '--ts', 'now', '--attr', 'bad name=x'],
      env,
    );
    expect(badFields.code).toBe(2);
    expect(badFields.stderr).toMatch(/--service: "a b" is not a service name/);
    expect(badFields.stderr).toMatch(/--url: not a URL/);
    expect(badFields.stderr).toMatch(/--ts: not a time/);
    expect(badFields.stderr).toMatch(/--attr bad name: "bad name" is not an attribute name/);
    const badSince = await cli(['deploys', 'list', '--since', '2 days'], env);
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toMatch(/did you mean "2d"/);
    const badLimit = await cli(['deploys', 'list', '--limit', '5000'], env);
    expect(badLimit.code).toBe(2);
    const unknownFlag = await cli(['deploy', '--service', 's', '--version', '1', '--colour', 'red'], env);
    expect(unknownFlag.code).toBe(2);
  });

  it('names the URL when the daemon cannot be reached, exit 1', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await cli(['deploy', '--service', 's', '--version', '1', '--api', url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot reach the daemon at ${url}`);
    expect(r.stderr).toMatch(/ECONNREFUSED/);
    const l = await cli(['deploys', 'list'], { FUNNELWATCH_URL: url });
    expect(l.code).toBe(1);
    expect(l.stderr).toContain('Point --api or FUNNELWATCH_URL');
  });
});
