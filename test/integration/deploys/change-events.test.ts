/**
 * Deploy markers forwarded as PagerDuty change events, against the fake Events API on loopback
 * (test/support/fake-pagerduty.ts, POST /v2/change/enqueue): the event's shape, quick retries on 429/5xx/network
 * errors, no retry on 400, give-up after the retries, a missing routing key, the key kept out of results and logs,
 * and `send` never rejecting. Real HTTP through undici.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { Writable } from 'node:stream';
import { startFakePagerDuty, startRecordingServer, type FakePagerDuty } from '../../support/fake-pagerduty.js';
import { PagerDutyChangeEvents, changeEventBody, type ChangeEventResult } from '../../../src/deploys/change-events.js';
import { validateDeployInput, type Deploy } from '../../../src/deploys/deploy.js';
import { createLogger } from '../../../src/obs/logger.js';
import { freePort } from '../../../src/devenv/free-port.js';

const KEY = 'e93facc04764012d7bfb002500d5d1a6';
const NOW = Date.UTC(2025, 0, 6, 12, 0);

function deploy(over: Record<string, unknown> = {}): Deploy {
  const r = validateDeployInput(
    {
      service: 'payments-service',
      version: 'v2.3.1',
      ts: NOW - 8 * 60_000,
      commit: '3f9c2ab',
      author: 'ana',
      url: 'https://ci.example.com/builds/220',
      attrs: { payment_provider: 'stripe' },
      ...over,
    },
    NOW,
  );
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.value;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(o: { baseUrl?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}) {
  let fake: FakePagerDuty | undefined;
  if (!o.baseUrl) {
    fake = await startFakePagerDuty();
    cleanups.push(() => fake!.close());
  }
  let logged = '';
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logged += String(chunk);
      cb();
    },
  });
  const results: ChangeEventResult[] = [];
  const events = new PagerDutyChangeEvents({
    routingKey: { env: 'PD_CHANGE_KEY' },
    baseUrl: o.baseUrl ?? fake!.url,
    env: o.env ?? { PD_CHANGE_KEY: KEY },
    logger: createLogger({ level: 'debug', pretty: false, destination }),
    retryDelayMs: 20,
    timeoutMs: o.timeoutMs ?? 2_000,
    onResult: (r) => results.push(r),
  });
  cleanups.push(() => events.close());
  return { fake, events, results, logged: () => logged };
}

describe('PagerDutyChangeEvents', () => {
  it('sends the deploy as a change event PagerDuty accepts', async () => {
    const { fake, events, results } = await setup();
    const d = deploy();
    expect(await events.send(d)).toEqual({ ok: true, deployId: d.id, attempts: 1 });
    expect(results).toEqual([{ ok: true, deployId: d.id, attempts: 1 }]);
    expect(fake!.changes).toHaveLength(1);
    const req = fake!.changes[0]!.request;
    expect(req.path).toBe('/v2/change/enqueue');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.json).toEqual({
      routing_key: KEY,
      payload: {
        summary: 'Deploy payments-service v2.3.1 to production',
        timestamp: '2025-01-06T11:52:00.000Z',
        source: 'funnelwatch',
        custom_details: {
          service: 'payments-service',
          version: 'v2.3.1',
          environment: 'production',
          deployed_at: '2025-01-06T11:52:00.000Z',
          commit: '3f9c2ab',
          author: 'ana',
          attrs: { payment_provider: 'stripe' },
          funnelwatch_deploy_id: d.id,
        },
      },
      links: [{ href: 'https://ci.example.com/builds/220', text: 'payments-service v2.3.1' }],
    });
    // A change event opens nothing.
    expect(fake!.incidents).toEqual([]);
  });

  it('leaves links out without a url and keeps the summary within 1024 characters', () => {
    const long = deploy({
      url: undefined,
      version: 'v'.repeat(128),
      service: `s${'x'.repeat(127)}`,
      environment: 'e'.repeat(64),
    });
    const body = changeEventBody(long, KEY, { source: 'ci' });
    expect(body).not.toHaveProperty('links');
    expect(body.payload.source).toBe('ci');
    expect([...body.payload.summary].length).toBeLessThanOrEqual(1024);
  });

  it('retries 429 and 5xx quickly, then succeeds', async () => {
    const { fake, events } = await setup();
    fake!.fail(1, { status: 429 });
    fake!.fail(1, { status: 503, body: 'upstream unavailable' });
    const r = await events.send(deploy());
    expect(r).toMatchObject({ ok: true, attempts: 3 });
    expect(fake!.requests).toHaveLength(3);
    expect(fake!.changes).toHaveLength(1);
  });

  it('gives up after the retries and reports why, without throwing', async () => {
    const { fake, events, results, logged } = await setup();
    fake!.fail(3, { status: 500, body: { status: 'error', message: 'Internal error', errors: [`bad key ${KEY}`] } });
    const r = await events.send(deploy());
    expect(r).toMatchObject({ ok: false, attempts: 3, code: 'PAGERDUTY_HTTP_500' });
    expect(fake!.requests).toHaveLength(3);
    // PagerDuty's text may quote the key; it is scrubbed from the result and the log.
    expect(JSON.stringify(r)).not.toContain(KEY);
    expect((r as { reason: string }).reason).toContain('[routing key]');
    expect(results).toEqual([r]);
    expect(logged()).toContain('PagerDuty change event not sent');
    expect(logged()).not.toContain(KEY);
  });

  it('does not retry a 400 and says what PagerDuty said', async () => {
    const { fake, events } = await setup({ env: { PD_CHANGE_KEY: 'short-key' } });
    const r = await events.send(deploy());
    expect(r).toMatchObject({
      ok: false,
      attempts: 1,
      code: 'PAGERDUTY_400',
      reason:
        'PagerDuty refused the change event (400): ' +
        'Event object is invalid: Service key is the wrong length (should be 32 characters)',
    });
    expect(fake!.requests).toHaveLength(1);
  });

  it('gives up at once when a 429 asks for a long wait', async () => {
    const { fake, events } = await setup();
    fake!.fail(1, { status: 429, retryAfter: 120 });
    expect(await events.send(deploy())).toMatchObject({ ok: false, attempts: 1, code: 'PAGERDUTY_429' });
  });

  it('retries network errors and timeouts, then reports them', async () => {
    const refused = await setup({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    expect(await refused.events.send(deploy())).toMatchObject({
      ok: false,
      attempts: 3,
      code: 'PAGERDUTY_NETWORK',
      reason: expect.stringMatching(/ECONNREFUSED/),
    });

    const hanging = await startRecordingServer(() => ({ hang: true }));
    cleanups.push(() => hanging.close());
    const slow = await setup({ baseUrl: hanging.url, timeoutMs: 200 });
    expect(await slow.events.send(deploy())).toMatchObject({ ok: false, attempts: 3, code: 'PAGERDUTY_TIMEOUT' });
    expect(hanging.requests).toHaveLength(3);
  });

  it('reports a missing routing key without sending anything', async () => {
    const { fake, events } = await setup({ env: {} });
    expect(await events.send(deploy())).toMatchObject({
      ok: false,
      attempts: 0,
      code: 'SECRET_MISSING',
      reason: 'the secret is missing: environment variable PD_CHANGE_KEY is not set or empty',
    });
    expect(fake!.requests).toEqual([]);
  });
});
