/**
 * Bounded silences (issue 18), on a real server (buildHttpServer + silenceRoutes, 127.0.0.1) with a real Redis store:
 * regular expressions run on RE2 (linear time; backreferences and lookaround refused with a clear 400), the number
 * of active and pending silences is capped (409, nothing stored), the end is capped (400, nothing stored), and the
 * "matches every alert" guard looks at what a matcher matches, not how it is spelled.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { buildHttpServer } from '../../../src/http/server.js';
import { silenceRoutes } from '../../../src/http/silence-routes.js';
import { RedisSilenceStore } from '../../../src/notify/silence-store.js';
import { ManualClock } from '../../../src/core/clock.js';
import { Metrics } from '../../../src/obs/metrics.js';
import { Readiness } from '../../../src/http/readiness.js';
import { matchingSilence } from '../../../src/notify/silences.js';
import { redisClient, uniquePrefix } from '../../support/env.js';

const TOKEN = 'limits-s3cret';
const T0 = Date.UTC(2025, 0, 6, 12, 0);

async function startServer() {
  const clock = new ManualClock(T0);
  const redis = redisClient();
  const store = new RedisSilenceStore({ redis, prefix: uniquePrefix(), clock: () => clock.now() });
  const logger = pino({ level: 'silent' });
  const app = buildHttpServer({
    logger,
    metrics: new Metrics({ defaultMetrics: false }),
    readiness: new Readiness(),
    version: 'test',
    routes: [silenceRoutes({ store, token: TOKEN, clock, logger })],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  onTestFinished(() => app.close());
  const { port } = app.server.address() as { port: number };
  const post = (body: unknown) =>
    fetch(`http://127.0.0.1:${port}/v1/silences`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const stored = async () => redis.hlen(store.key);
  return { post, store, stored, clock };
}

const silence = (matchers: unknown[], extra: Record<string, unknown> = {}) => ({
  matchers,
  duration: '2h',
  createdBy: 'ana',
  comment: 'CHG-1',
  ...extra,
});

describe('silences are bounded', () => {
  it('runs regexes on RE2: (x+x+)+y matches in linear time; backreferences and lookaround answer 400', async () => {
    const { post, store, stored } = await startServer();
    const created = await post(silence(['funnel=checkout', { name: 'segment', op: '=~', value: '(x+x+)+y' }]));
    expect(created.status).toBe(201);
    const [s] = await store.active(T0);
    const labels = { funnel: 'checkout', rule: 'r', severity: 'page', segment: 'x'.repeat(27) };
    // A bound on blocking, not a speed benchmark: a backtracking engine takes seconds here (2^27 paths).
    const t = performance.now();
    expect(matchingSilence(labels, [s!], T0)).toBeUndefined();
    expect(matchingSilence({ ...labels, segment: `${'x'.repeat(27)}y` }, [s!], T0)?.id).toBe(s!.id);
    expect(performance.now() - t).toBeLessThan(1000);

    for (const value of ['(a)\\1', 'a(?=b)', 'a(?!b)', '(?<=a)b']) {
      const r = await post(silence(['funnel=checkout', { name: 'segment', op: '=~', value }]));
      expect(r.status, value).toBe(400);
      const body = (await r.json()) as { error: string; message: string };
      expect(body.error).toBe('BAD_SILENCE');
      expect(body.message).toContain('RE2 syntax');
    }
    const long = await post(silence(['funnel=checkout', { name: 'rule', op: '=~', value: 'a'.repeat(257) }]));
    expect(long.status).toBe(400);
    expect(await long.text()).toContain('longer than 256 characters');
    const rep = await post(silence(['funnel=checkout', { name: 'rule', op: '=~', value: '(?:.{1000})' }]));
    expect(rep.status).toBe(400);
    expect(await stored()).toBe(1);
  });

  it('caps active and pending silences at 400: the next one answers 409 and is not stored', async () => {
    const { post, store, stored } = await startServer();
    for (let i = 0; i < 400; i++) {
      await store.create({
        matchers: [{ name: 'funnel', op: '=', value: `f${i}` }],
        startsAt: T0,
        endsAt: T0 + 3_600_000,
        createdBy: 'script',
        comment: 'load',
      });
    }
    const r = await post(silence(['funnel=checkout']));
    expect(r.status).toBe(409);
    const body = (await r.json()) as { error: string; message: string };
    expect(body.error).toBe('SILENCE_LIMIT');
    expect(body.message).toContain('the limit is 400');
    expect(await stored()).toBe(400);
  });

  it('refuses an end more than a year ahead with 400 and stores nothing', async () => {
    const { post, stored } = await startServer();
    for (const extra of [
      { duration: '100000000d' },
      { duration: '366d' },
      { duration: undefined, endsAt: '2027-01-01T00:00:00Z' },
    ]) {
      const r = await post(silence(['funnel=checkout'], extra));
      expect(r.status, JSON.stringify(extra)).toBe(400);
      expect(await r.text()).toContain('within 365 days');
    }
    expect(await stored()).toBe(0);
    expect((await post(silence(['funnel=checkout'], { duration: '364d' }))).status).toBe(201);
  });

  it('refuses matchers that match (nearly) every value however they are written, alone and together', async () => {
    const { post, stored } = await startServer();
    const catchAll: unknown[][] = [
      [{ name: 'funnel', op: '=~', value: '(.*)' }],
      [{ name: 'funnel', op: '=~', value: '.{0,}' }],
      [{ name: 'funnel', op: '=~', value: '^.*$' }],
      [{ name: 'funnel', op: '=~', value: '[\\s\\S]*' }],
      [{ name: 'funnel', op: '=~', value: '.*.*' }],
      [{ name: 'funnel', op: '=~', value: '.{2,}' }],
      [{ name: 'funnel', op: '=~', value: '[^é]+' }],
      [{ name: 'funnel', op: '!~', value: 'a|0|checkout-conversion|Z9_\\.-=\\|/ x|é中' }],
      [
        { name: 'funnel', op: '=~', value: '.{2,}' },
        { name: 'rule', op: '!=', value: 'x' },
      ],
    ];
    for (const matchers of catchAll) {
      const r = await post(silence(matchers));
      expect(r.status, JSON.stringify(matchers)).toBe(400);
      expect(await r.text()).toContain('must select something');
    }
    expect(await stored()).toBe(0);
    for (const ok of [['funnel=checkout'], ['rule=~"checkout-.*"'], ['segment=~"payment_provider=(stripe|adyen)"']]) {
      expect((await post(silence(ok))).status, ok[0]).toBe(201);
    }
  });
});
