/**
 * The webhook receiver against a real loopback server (test/support/fake-pagerduty.ts startRecordingServer): body
 * and headers, a signature the test recomputes on its own, and the classification of answers.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { createHmac } from 'node:crypto';
import { startRecordingServer, type Handler, type RecordingServer } from '../../support/fake-pagerduty.js';
import { WebhookReceiver, verifyWebhookSignature } from '../../../src/notify/webhook.js';
import { parseRetryAfter } from '../../../src/core/outbound-http.js';
import { createLogger } from '../../../src/obs/logger.js';
import { ManualClock } from '../../../src/core/clock.js';
import { VERSION } from '../../../src/core/version.js';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import { alertmanagerV4Errors } from '../../support/alertmanager-schema.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';

const AT = Date.UTC(2025, 0, 6, 12, 8);
const SECRET = 'webhook-shared-secret';

function alert(over: Partial<AlertTransition> = {}): AlertTransition {
  return {
    id: `checkout-conversion@${AT}#2`,
    kind: 'firing',
    at: AT,
    rule: 'checkout-conversion',
    funnel: 'checkout',
    segment: null,
    severity: 'warning',
    notify: ['hook'],
    labels: {},
    incidentId: `checkout-conversion@${AT}`,
    from: 'pending',
    to: 'firing',
    ruleSetVersion: 'v1',
    ...over,
  };
}

function job(event: DeliveryJob['event'], over: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    id: `checkout-conversion@${AT}#2/${event}/hook`,
    receiver: 'hook',
    event,
    alert: alert(),
    createdAt: AT,
    attempt: 0,
    ...over,
  };
}

let server: RecordingServer;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(
  o: { secret?: boolean; handler?: Handler; path?: string; timeoutMs?: number; clock?: ManualClock } = {},
) {
  server = await startRecordingServer(o.handler);
  const receiver = new WebhookReceiver({
    def: {
      name: 'hook',
      kind: 'webhook',
      url: `${server.url}${o.path ?? '/hooks/funnelwatch?token=abc'}`,
      ...(o.secret ? { secret: { env: 'HOOK_SECRET' } } : {}),
    },
    logger: createLogger({ level: 'silent', pretty: false }),
    env: { HOOK_SECRET: SECRET },
    timeoutMs: o.timeoutMs,
    clock: o.clock,
  });
  cleanups.push(async () => {
    await receiver.close();
    await server.close();
  });
  return receiver;
}

describe('WebhookReceiver', () => {
  it('posts the Alertmanager v4 JSON body with identifying headers', async () => {
    const r = await setup();
    expect(await r.deliver(job('firing'))).toEqual({ ok: true });
    const req = server.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/hooks/funnelwatch?token=abc');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['user-agent']).toBe(`funnelwatch/${VERSION}`);
    expect(req.headers['idempotency-key']).toBe(job('firing').id);
    expect(req.headers['x-funnelwatch-signature']).toBeUndefined();
    // Alertmanager's webhook v4, checked against its committed schema, plus our event and job id.
    expect(alertmanagerV4Errors(req.json)).toBe('');
    expect(req.json).toMatchObject({
      version: '4',
      status: 'firing',
      receiver: 'hook',
      event: 'firing',
      jobId: job('firing').id,
      alerts: [{ status: 'firing', labels: { alertname: 'checkout-conversion', funnel: 'checkout' } }],
    });
  });

  it('sends every event kind, the self-alert and its recovery with their failure', async () => {
    const r = await setup();
    for (const e of ['firing', 'updated', 'reminder', 'resolved'] as const)
      expect(await r.deliver(job(e))).toEqual({ ok: true });
    const failure = { receiver: 'pd', jobId: 'x', event: 'firing' as const, code: 'PAGERDUTY_400', reason: 'bad' };
    expect(await r.deliver(job('delivery_failed', { failure }))).toEqual({ ok: true });
    expect(await r.deliver(job('delivery_recovered', { failure }))).toEqual({ ok: true });
    expect(server.requests.map((q) => (q.json as { event: string }).event)).toEqual([
      'firing',
      'updated',
      'reminder',
      'resolved',
      'delivery_failed',
      'delivery_recovered',
    ]);
    expect((server.requests[4]!.json as { failure: unknown }).failure).toEqual(failure);
    const recovered = server.requests[5]!.json as { status: string; failure: unknown };
    expect(recovered).toMatchObject({ status: 'resolved', failure });
  });

  it('signs "<timestamp>.<body>" with HMAC-SHA256, verifiable by the receiver', async () => {
    const clock = new ManualClock(Date.UTC(2025, 0, 6, 12, 9, 30, 500));
    const r = await setup({ secret: true, clock });
    expect(await r.deliver(job('firing'))).toEqual({ ok: true });
    const req = server.requests[0]!;
    const ts = String(req.headers['x-funnelwatch-timestamp']);
    expect(ts).toBe(String(Math.floor(clock.now() / 1000)));
    const expected = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${req.raw}`).digest('hex')}`;
    expect(req.headers['x-funnelwatch-signature']).toBe(expected);
    // the helper a JS receiver can copy agrees, and refuses tampering and stale timestamps
    const sig = String(req.headers['x-funnelwatch-signature']);
    expect(
      verifyWebhookSignature({ secret: SECRET, body: req.raw, timestamp: ts, signature: sig, nowMs: clock.now() }),
    ).toBe(true);
    expect(
      verifyWebhookSignature({
        secret: SECRET,
        body: req.raw.replace('warning', 'critical'),
        timestamp: ts,
        signature: sig,
        nowMs: clock.now(),
      }),
    ).toBe(false);
    expect(
      verifyWebhookSignature({ secret: 'other', body: req.raw, timestamp: ts, signature: sig, nowMs: clock.now() }),
    ).toBe(false);
    expect(
      verifyWebhookSignature({
        secret: SECRET,
        body: req.raw,
        timestamp: ts,
        signature: sig,
        nowMs: clock.now() + 600_000,
      }),
    ).toBe(false);
  });

  it('a missing secret is permanent SECRET_MISSING, with no request', async () => {
    server = await startRecordingServer();
    const r = new WebhookReceiver({
      def: { name: 'hook', kind: 'webhook', url: server.url, secret: { env: 'NOPE' } },
      logger: createLogger({ level: 'silent', pretty: false }),
      env: {},
    });
    cleanups.push(async () => {
      await r.close();
      await server.close();
    });
    expect(await r.deliver(job('firing'))).toMatchObject({ ok: false, retriable: false, code: 'SECRET_MISSING' });
    expect(server.requests).toHaveLength(0);
    expect(await r.check()).toEqual([expect.stringContaining('NOPE')]);
  });

  it('500 is retriable', async () => {
    const r = await setup();
    server.fail(1, { status: 500, body: 'internal' });
    expect(await r.deliver(job('firing'))).toMatchObject({ ok: false, retriable: true, code: 'WEBHOOK_HTTP_500' });
    expect(await r.deliver(job('firing'))).toEqual({ ok: true });
  });

  it('408 is retriable; 503 with an HTTP-date Retry-After gives the delay', async () => {
    const clock = new ManualClock(Date.UTC(2025, 0, 6, 12, 0, 0));
    const r = await setup({ clock });
    server.fail(1, { status: 408 });
    server.fail(1, { status: 503, headers: { 'retry-after': new Date(clock.now() + 90_000).toUTCString() } });
    expect(await r.deliver(job('firing'))).toMatchObject({ ok: false, retriable: true, code: 'WEBHOOK_HTTP_408' });
    expect(await r.deliver(job('firing'))).toMatchObject({
      ok: false,
      retriable: true,
      code: 'WEBHOOK_HTTP_503',
      retryAfterMs: 90_000,
    });
  });

  it('429 with Retry-After is retriable with the delay', async () => {
    const r = await setup();
    server.fail(1, { status: 429, retryAfter: 12 });
    expect(await r.deliver(job('firing'))).toMatchObject({
      ok: false,
      retriable: true,
      code: 'WEBHOOK_HTTP_429',
      retryAfterMs: 12_000,
    });
  });

  it('404 is permanent with the start of the answer, and no secret from the URL', async () => {
    const r = await setup();
    server.fail(1, { status: 404, body: `no such hook\n${'x'.repeat(500)}` });
    const out = await r.deliver(job('firing'));
    expect(out).toMatchObject({ ok: false, retriable: false, code: 'WEBHOOK_HTTP_404' });
    const reason = out.ok ? '' : out.reason;
    expect(reason).toContain(`${server.url} answered 404: no such hook xxx`);
    expect(reason.length).toBeLessThan(300);
    expect(reason).not.toContain('token=abc');
  });

  it('a redirect is permanent: configure the final URL', async () => {
    const r = await setup();
    server.fail(1, { status: 308, headers: { location: 'https://elsewhere.example.com/hook?token=zzz' } });
    const out = await r.deliver(job('firing'));
    expect(out).toMatchObject({ ok: false, retriable: false, code: 'WEBHOOK_HTTP_308' });
    expect(out.ok ? '' : out.reason).toMatch(/https:\/\/elsewhere\.example\.com.*final URL/);
    expect(out.ok ? '' : out.reason).not.toContain('zzz');
  });

  it('a server that never answers times out as retriable', async () => {
    const r = await setup({ timeoutMs: 300 });
    server.fail(1, { hang: true });
    expect(await r.deliver(job('firing'))).toMatchObject({ ok: false, retriable: true, code: 'WEBHOOK_TIMEOUT' });
  });

  it('a URL that is not http(s) is permanent', async () => {
    const r = new WebhookReceiver({
      def: { name: 'h', kind: 'webhook', url: 'ftp://x/y' },
      logger: createLogger({ level: 'silent', pretty: false }),
    });
    expect(await r.deliver(job('firing'))).toMatchObject({ ok: false, retriable: false, code: 'WEBHOOK_BAD_URL' });
    expect(await r.check()).toEqual([expect.stringContaining('http(s)')]);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 0, 1);
  it('reads seconds and HTTP dates; ignores junk', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 1.5 ', now)).toBe(1500);
    expect(parseRetryAfter(new Date(now + 5000).toUTCString(), now)).toBe(5000);
    expect(parseRetryAfter(new Date(now - 5000).toUTCString(), now)).toBe(0);
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(['3', '4'], now)).toBe(3000);
  });
});
