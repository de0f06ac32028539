/**
 * The PagerDuty receiver against a fake Events API v2 on loopback (test/support/fake-pagerduty.ts): the incident
 * lifecycle, every class of answer, timeouts, secrets, reminders and the delivery-failed self-alert. Real HTTP.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { Writable } from 'node:stream';
import { createServer } from 'node:net';
import { request } from 'undici';
import { startFakePagerDuty, type FakePagerDuty } from '../../support/fake-pagerduty.js';
import { PagerDutyReceiver, routingKeyId, pagerDutyDedupKey } from '../../../src/notify/pagerduty.js';
import { createLogger } from '../../../src/obs/logger.js';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import type { Evidence } from '../../../src/model/evidence.js';
import type { DeliveryJob, DeliveryOutcome, DeliveryRecord, GroupNotice } from '../../../src/notify/receiver.js';

const KEY = 'e93facc04764012d7bfb002500d5d1a6';
const OTHER_KEY = '0123456789abcdef0123456789abcdef';
const AT = Date.UTC(2025, 0, 6, 12, 8);

function evidence(over: Partial<Evidence> = {}): Evidence {
  return {
    observed: 508,
    expected: 741.6,
    observedRate: 0.412,
    expectedRate: 0.601,
    relativeChange: 0.314,
    volume: 1234,
    windowMinutes: 15,
    statistic: 5.1,
    threshold: 3.2,
    pValue: 2e-7,
    chanceRatePerWeek: 0.01,
    onset: AT - 300_000,
    evaluatedUpTo: AT,
    baseline: { kind: 'seasonal', weeksUsed: 4 },
    ...over,
  };
}

function alert(over: Partial<AlertTransition> = {}): AlertTransition {
  return {
    id: `checkout-conversion|platform=android@${AT}#2`,
    kind: 'firing',
    at: AT,
    rule: 'checkout-conversion',
    funnel: 'checkout',
    segment: { dimension: 'platform', value: 'android' },
    severity: 'critical',
    notify: ['pd-checkout'],
    labels: {},
    incidentId: `checkout-conversion|platform=android@${AT}`,
    from: 'pending',
    to: 'firing',
    evidence: evidence(),
    ruleSetVersion: 'v1',
    ...over,
  };
}

function job(event: DeliveryJob['event'], a: AlertTransition = alert(), over: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    id: `${a.id}/${event}/pd-checkout`,
    receiver: 'pd-checkout',
    event,
    alert: a,
    createdAt: AT,
    attempt: 0,
    ...over,
  };
}

function record(out: DeliveryOutcome): DeliveryRecord {
  if (!out.ok || !out.record?.pagerduty) throw new Error(`expected a delivered outcome, got ${JSON.stringify(out)}`);
  return {
    receiver: 'pd-checkout',
    incident: alert().incidentId!,
    openedAt: AT,
    lastEvent: 'firing',
    lastAt: AT,
    pagerduty: out.record.pagerduty,
  };
}

let fake: FakePagerDuty;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(o: { env?: Record<string, string | undefined>; timeoutMs?: number; dashboardUrl?: string } = {}) {
  fake = await startFakePagerDuty();
  let logged = '';
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logged += String(chunk);
      cb();
    },
  });
  const receiver = new PagerDutyReceiver({
    def: { name: 'pd-checkout', kind: 'pagerduty', routingKey: { env: 'PD_KEY' }, dashboardUrl: o.dashboardUrl },
    baseUrl: fake.url,
    logger: createLogger({ level: 'debug', pretty: false, destination }),
    env: o.env ?? { PD_KEY: KEY },
    timeoutMs: o.timeoutMs,
  });
  cleanups.push(async () => {
    await receiver.close();
    await fake.close();
  });
  return { receiver, logs: () => logged };
}

describe('PagerDutyReceiver', () => {
  it('trigger opens, an update whose severity rose re-triggers the same incident, resolve closes it', async () => {
    const { receiver, logs } = await setup({ dashboardUrl: 'https://dash.example.com/{funnel}?seg={segment}' });
    const opened = await receiver.deliver(job('firing'), undefined);
    const dedupKey = pagerDutyDedupKey('checkout-conversion', { dimension: 'platform', value: 'android' });
    expect(opened).toEqual({ ok: true, record: { pagerduty: { dedupKey, routingKeyId: routingKeyId(KEY) } } });
    await fake.settled();
    expect(fake.open()).toHaveLength(1);
    const inc = fake.incident(dedupKey)!;
    expect(inc).toMatchObject({ status: 'open', triggers: 1, updates: 0, severity: 'critical' });
    expect(fake.requests[0]!.json).toMatchObject({
      links: [{ href: 'https://dash.example.com/checkout?seg=platform%3Dandroid' }],
    });
    expect(fake.requests[0]!.headers['content-type']).toBe('application/json');

    const prior = record(opened);
    const worse = alert({
      evidence: evidence({ observedRate: 0.2, relativeChange: 0.67 }),
      id: `${alert().incidentId}#3`,
    });
    const group = (severityRose: boolean): GroupNotice => ({
      id: 'g',
      key: 'k',
      labels: { funnel: 'checkout' },
      action: 'update',
      members: [],
      worst: '',
      severityRose,
      firing: 1,
      resolved: 0,
      joined: [],
      left: [],
    });
    // Members joining or resolving at the same severity: Slack's news, not a PagerDuty event.
    const sameSeverity = await receiver.deliver(job('updated', worse, { group: group(false) }), prior);
    expect(sameSeverity).toEqual({ ok: true, nothingSent: true });
    expect(fake.requests).toHaveLength(1);
    expect(await receiver.deliver(job('updated', worse, { group: group(true) }), prior)).toMatchObject({ ok: true });
    await fake.settled();
    expect(fake.incidents).toHaveLength(1);
    expect(inc).toMatchObject({ status: 'open', triggers: 2, updates: 1 });
    expect(String(inc.payload.summary)).toContain('20.0%');

    const resolved = alert({
      kind: 'resolved',
      from: 'firing',
      to: 'resolved',
      at: AT + 900_000,
      id: `${alert().incidentId}#4`,
    });
    expect(await receiver.deliver(job('resolved', resolved), prior)).toMatchObject({ ok: true });
    await fake.settled();
    expect(inc.status).toBe('resolved');
    expect(inc.resolvePayload).toMatchObject({
      summary: expect.stringContaining('checkout-conversion'),
      severity: 'critical',
    });
    expect(fake.open()).toHaveLength(0);
    expect(fake.events.map((e) => e.effect)).toEqual(['opened', 'updated', 'resolved']);
    expect(fake.requests.every((r) => r.answered && r.status === 202)).toBe(true);
    expect(logs()).not.toContain(KEY);
  });

  it('a reminder sends nothing', async () => {
    const { receiver } = await setup();
    const prior = record(await receiver.deliver(job('firing'), undefined));
    expect(await receiver.deliver(job('reminder'), prior)).toEqual({ ok: true, nothingSent: true });
    expect(fake.requests).toHaveLength(1);
  });

  it('429 with Retry-After is retriable with that delay, then succeeds', async () => {
    const { receiver } = await setup();
    fake.fail(1, { status: 429, retryAfter: 7 });
    const first = await receiver.deliver(job('firing'), undefined);
    expect(first).toMatchObject({ ok: false, retriable: true, code: 'PAGERDUTY_429', retryAfterMs: 7000 });
    await fake.settled();
    expect(fake.incidents).toHaveLength(0);
    expect(await receiver.deliver(job('firing', alert(), { attempt: 1 }), undefined)).toMatchObject({ ok: true });
    await fake.settled();
    expect(fake.open()).toHaveLength(1);
  });

  it('429 without Retry-After backs off 30 s', async () => {
    const { receiver } = await setup();
    fake.fail(1, { status: 429 });
    expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({
      ok: false,
      retriable: true,
      code: 'PAGERDUTY_429',
      retryAfterMs: 30_000,
    });
  });

  it('5xx is retriable', async () => {
    const { receiver } = await setup();
    fake.fail(1, { status: 503 });
    fake.fail(1, { status: 500, body: 'oops' });
    expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({
      ok: false,
      retriable: true,
      code: 'PAGERDUTY_HTTP_503',
    });
    expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({
      ok: false,
      retriable: true,
      code: 'PAGERDUTY_HTTP_500',
      reason: expect.stringContaining('oops'),
    });
    expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({ ok: true });
  });

  it("400 is permanent with PagerDuty's errors in the reason", async () => {
    const { receiver } = await setup();
    fake.fail(1, { status: 400, errors: ["'summary' is too long (maximum is 1024 characters)"] });
    const out = await receiver.deliver(job('firing'), undefined);
    expect(out).toMatchObject({ ok: false, retriable: false, code: 'PAGERDUTY_400' });
    expect(!out.ok && out.reason).toBe(
      "PagerDuty refused the event (400): Event object is invalid: 'summary' is too long (maximum is 1024 characters)",
    );
  });

  it('the fake validates like PagerDuty: a wrong-length key is a 400, never echoed in the reason', async () => {
    const { receiver, logs } = await setup({ env: { PD_KEY: 'short-key-123' } });
    const out = await receiver.deliver(job('firing'), undefined);
    expect(out).toMatchObject({
      ok: false,
      retriable: false,
      code: 'PAGERDUTY_400',
      reason: expect.stringContaining('wrong length'),
    });
    expect(JSON.stringify(out)).not.toContain('short-key-123');
    expect(logs()).not.toContain('short-key-123');
  });

  it('other 4xx are permanent', async () => {
    const { receiver } = await setup();
    for (const status of [401, 403, 404, 413]) {
      fake.fail(1, { status, body: { status: 'x', message: `m${status}` } });
      expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({
        ok: false,
        retriable: false,
        code: `PAGERDUTY_HTTP_${status}`,
      });
    }
  });

  it('a server that never answers times out as retriable', async () => {
    const { receiver } = await setup({ timeoutMs: 300 });
    fake.fail(1, { hang: true });
    const t0 = Date.now();
    const out = await receiver.deliver(job('firing'), undefined);
    expect(out).toMatchObject({ ok: false, retriable: true, code: 'PAGERDUTY_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(fake.requests[0]).toMatchObject({ answered: false, scripted: true });
    // the next attempt goes through on a fresh connection
    expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({ ok: true });
  });

  it('a refused connection is a retriable network error', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const receiver = new PagerDutyReceiver({
      def: { name: 'pd', kind: 'pagerduty', routingKey: { env: 'PD_KEY' } },
      baseUrl: `http://127.0.0.1:${port}`,
      logger: createLogger({ level: 'silent', pretty: false }),
      env: { PD_KEY: KEY },
      timeoutMs: 2000,
    });
    cleanups.push(() => receiver.close());
    expect(await receiver.deliver(job('firing'), undefined)).toMatchObject({
      ok: false,
      retriable: true,
      code: 'PAGERDUTY_NETWORK',
    });
  });

  it('a missing routing key is a permanent SECRET_MISSING, with no request', async () => {
    const { receiver } = await setup({ env: {} });
    const out = await receiver.deliver(job('firing'), undefined);
    expect(out).toMatchObject({
      ok: false,
      retriable: false,
      code: 'SECRET_MISSING',
      reason: expect.stringContaining('PD_KEY'),
    });
    expect(fake.requests).toHaveLength(0);
    expect(await receiver.check()).toEqual([expect.stringContaining('environment variable PD_KEY')]);
  });

  it('check() wants a 32-character key', async () => {
    expect(await (await setup()).receiver.check()).toEqual([]);
    await cleanups.pop()!();
    const { receiver } = await setup({ env: { PD_KEY: 'abc' } });
    expect(await receiver.check()).toEqual([expect.stringMatching(/is 3 characters.*32/)]);
  });

  it('delivery_failed opens its own incident per failing receiver', async () => {
    const { receiver } = await setup();
    await receiver.deliver(job('firing'), undefined);
    const failure = {
      receiver: 'slack-payments',
      jobId: 'j1',
      event: 'firing' as const,
      code: 'SLACK_NOT_IN_CHANNEL',
      reason: 'not_in_channel: invite the bot',
    };
    const out = await receiver.deliver(
      job('delivery_failed', alert(), { failure, id: 'j1/delivery_failed/pd-checkout' }),
      undefined,
    );
    expect(out).toMatchObject({
      ok: true,
      record: { pagerduty: { dedupKey: 'funnelwatch/delivery-failed/slack-payments' } },
    });
    await fake.settled();
    expect(fake.open()).toHaveLength(2);
    const inc = fake.incident('funnelwatch/delivery-failed/slack-payments')!;
    expect(inc).toMatchObject({ severity: 'critical', triggers: 1 });
    expect(inc.summary).toMatch(/receiver slack-payments refused the firing of checkout-conversion.*not_in_channel/);
    // a second refusal by the same receiver updates that incident rather than paging again
    await receiver.deliver(job('delivery_failed', alert(), { failure: { ...failure, jobId: 'j2' } }), undefined);
    await fake.settled();
    expect(fake.open()).toHaveLength(2);
    expect(inc.triggers).toBe(2);
  });

  it('a resolve after the routing key changed is still sent, with a warning, and PagerDuty drops it', async () => {
    const env: Record<string, string | undefined> = { PD_KEY: KEY };
    const { receiver, logs } = await setup({ env });
    const prior = record(await receiver.deliver(job('firing'), undefined));
    env.PD_KEY = OTHER_KEY; // rotated in place: read per delivery
    const out = await receiver.deliver(job('resolved', alert({ kind: 'resolved' })), prior);
    expect(out).toMatchObject({ ok: true, record: { pagerduty: { routingKeyId: routingKeyId(OTHER_KEY) } } });
    await fake.settled();
    expect(fake.events.at(-1)).toMatchObject({ action: 'resolve', effect: 'dropped' });
    expect(fake.open()).toHaveLength(1); // what research §1.7 warns about
    expect(logs()).toMatch(/routing key changed/);
    expect(logs()).not.toContain(KEY);
    expect(logs()).not.toContain(OTHER_KEY);
  });

  it("a held request stays in flight until released (the lead's crash tests)", async () => {
    const { receiver } = await setup();
    const held = fake.holdNext();
    const pending = receiver.deliver(job('firing'), undefined);
    const req = await held.received;
    expect(req).toMatchObject({ held: true, answered: false });
    await fake.settled();
    expect(fake.incidents).toHaveLength(0);
    held.release();
    expect(await pending).toMatchObject({ ok: true });
    expect(req).toMatchObject({ answered: true, status: 202 });
    await fake.settled();
    expect(fake.open()).toHaveLength(1);
  });

  it('a held request whose client goes away stays unanswered', async () => {
    const { receiver } = await setup({ timeoutMs: 300 });
    const held = fake.holdNext({ apply: 'on-receipt' });
    const out = await receiver.deliver(job('firing'), undefined);
    expect(out).toMatchObject({ ok: false, retriable: true, code: 'PAGERDUTY_TIMEOUT' });
    await held.gone;
    held.release();
    expect(fake.requests[0]).toMatchObject({ answered: false, closedEarly: true });
    await fake.settled();
    expect(fake.open()).toHaveLength(1); // accepted, but the answer was lost: a retry must update, not duplicate
    expect(await receiver.deliver(job('firing', alert(), { attempt: 1 }), undefined)).toMatchObject({ ok: true });
    await fake.settled();
    expect(fake.incidents).toHaveLength(1);
    expect(fake.incidents[0]).toMatchObject({ triggers: 2 });
  });

  it('the fake answers like the Events API v2', async () => {
    fake = await startFakePagerDuty();
    cleanups.push(() => fake.close());
    const post = async (body: string): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await request(`${fake.url}/v2/enqueue`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
    };
    const trigger = (over: Record<string, unknown> = {}, payload: Record<string, unknown> = {}) =>
      JSON.stringify({
        routing_key: KEY,
        event_action: 'trigger',
        dedup_key: 'k1',
        payload: { summary: 's', source: 'src', severity: 'critical', ...payload },
        ...over,
      });
    expect(await post('{not json')).toMatchObject({ status: 400, json: { errors: ['JSON parse error'] } });
    expect(await post(trigger({ routing_key: 'x' }))).toMatchObject({
      status: 400,
      json: { status: 'invalid event', errors: ['Service key is the wrong length (should be 32 characters)'] },
    });
    expect(await post(trigger({ event_action: 'open' }))).toMatchObject({ status: 400 });
    expect(await post(trigger({ dedup_key: 'k'.repeat(256) }))).toMatchObject({ status: 400 });
    expect(await post(trigger({}, { summary: 'é'.repeat(1025) }))).toMatchObject({
      status: 400,
      json: { errors: [expect.stringContaining('too long')] },
    });
    expect(await post(trigger({}, { severity: 'high' }))).toMatchObject({ status: 400 });
    expect(await post(trigger({}, { source: '' }))).toMatchObject({ status: 400 });
    expect(await post(trigger({ links: [{ text: 'x' }] }))).toMatchObject({ status: 400 });
    expect(await post(trigger({}, { custom_details: { x: 'x'.repeat(512_001) } }))).toMatchObject({ status: 400 });
    await fake.settled();
    expect(fake.incidents).toHaveLength(0);
    // a summary of exactly 1024 multibyte characters is fine
    expect(await post(trigger({}, { summary: 'é'.repeat(1024) }))).toEqual({
      status: 202,
      json: { status: 'success', message: 'Event processed', dedup_key: 'k1' },
    });
    expect(
      await post(JSON.stringify({ routing_key: KEY, event_action: 'resolve', dedup_key: 'unknown' })),
    ).toMatchObject({ status: 202 });
    expect(
      await post(JSON.stringify({ routing_key: OTHER_KEY, event_action: 'resolve', dedup_key: 'k1' })),
    ).toMatchObject({ status: 202 });
    await fake.settled();
    expect(fake.events.map((e) => e.effect)).toEqual(['opened', 'dropped', 'dropped']);
    expect(fake.open()).toHaveLength(1);
    await post(JSON.stringify({ routing_key: KEY, event_action: 'resolve', dedup_key: 'k1' }));
    await post(trigger());
    // a trigger after a resolve is a new alert
    await fake.settled();
    expect(fake.incidents.map((i) => i.status)).toEqual(['resolved', 'open']);
    const generated = await post(trigger({ dedup_key: undefined }));
    expect(generated.json.dedup_key).toMatch(/^[0-9a-f]{32}$/);
  });
});
