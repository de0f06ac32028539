import { describe, it, expect, onTestFinished } from 'vitest';
import type { Daemon } from '../../../src/app/daemon.js';
import { kafkaBrokers, kafka, uniqueName, uniquePrefix, eventually } from '../../support/env.js';
import { startInProcessDaemon } from '../../support/daemon.js';
import { windowQueries } from '../../support/window-queries.js';

const TOKEN = 's3cret-token';

function startDaemon(extra: Record<string, string> = {}): Promise<Daemon> {
  return startInProcessDaemon(TOKEN, extra);
}

function post(d: Daemon, body: string, headers: Record<string, string> = {}) {
  return fetch(`${d.httpUrl}/v1/events`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
  });
}

const now = Date.now();
const ev = (type: string, entity: string, dt = 0, attrs: Record<string, string> = { platform: 'ios' }) => ({
  id: `${type}-${entity}`,
  type,
  ts: new Date(now - 60_000 + dt).toISOString(),
  entity,
  attrs,
});

describe('POST /v1/events without Kafka (applied directly to the windows)', () => {
  it('accepts a good batch and the counts land in Redis', async () => {
    const d = await startDaemon();
    const batch = [
      ev('checkout_started', 'c1'),
      ev('checkout_started', 'c2'),
      ev('payment_submitted', 'c1', 1000),
      ev('order_completed', 'c1', 2000, { platform: 'ios', status: 'paid' }),
    ];
    const r = await post(d, JSON.stringify(batch));
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ accepted: 4, rejected: 0, errors: [] });
    const checkout = d.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    const t = await d.windows.stepTotals({ funnel: checkout, from: now - 3_600_000, to: now + 60_000 });
    expect(t.volume).toEqual([2, 1, 1]);
    // A repeated step and a step of an entity that never entered are counted as such, visibly.
    await post(d, JSON.stringify([ev('payment_submitted', 'c1', 1500), ev('payment_submitted', 'ghost', 1600)]));
    const metrics = await (await fetch(`${d.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^fw_window_events_total\{funnel="checkout",outcome="entry"\} 2$/m);
    expect(metrics).toMatch(/^fw_window_events_total\{funnel="checkout",outcome="duplicate"\} 1$/m);
    expect(metrics).toMatch(/^fw_window_events_total\{funnel="checkout",outcome="no_entry"\} 1$/m);
  });

  it('answers a mixed batch with the reason of each rejected event and applies the good ones', async () => {
    const d = await startDaemon();
    const r = await post(
      d,
      JSON.stringify([
        ev('checkout_started', 'm1'),
        { type: 'checkout_started' },
        'not an event',
        { type: 'checkout_started', ts: 'soon', entity: 'x' },
        ev('checkout_started', 'm2'),
        { type: 'checkout_started', ts: '1970-01-01T00:27:41Z', entity: 'truncated' },
      ]),
    );
    expect(r.status).toBe(200);
    const body = (await r.json()) as {
      accepted: number;
      rejected: number;
      errors: { index: number; reason: string; detail: string }[];
    };
    expect(body.accepted).toBe(2);
    expect(body.rejected).toBe(4);
    expect(body.errors.map((e) => [e.index, e.reason])).toEqual([
      [1, 'missing_field'],
      [2, 'not_an_object'],
      [3, 'invalid_timestamp'],
      [5, 'implausible_timestamp'],
    ]);
    expect(body.errors[3]!.detail).toMatch(/1970-01-01T00:27:41.000Z is before 2000/);
    const checkout = d.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    const t = await d.windows.stepTotals({ funnel: checkout, from: now - 3_600_000, to: now + 60_000 });
    expect(t.volume[0]).toBe(2);
    const metrics = await (await fetch(`${d.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/fw_events_rejected_total\{reason="missing_field"\} 1/);
    expect(metrics).toMatch(/fw_events_rejected_total\{reason="implausible_timestamp"\} 1/);
  });

  it('takes NDJSON, skipping blank lines and rejecting a broken line', async () => {
    const d = await startDaemon();
    const nd = [
      JSON.stringify(ev('signup_started', 'u1')),
      '',
      JSON.stringify(ev('signup_started', 'u2')),
      '{"type": "signup_started", "ts": 1',
      '',
    ].join('\n');
    const r = await post(d, nd, { 'content-type': 'application/x-ndjson' });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { accepted: number; rejected: number; errors: { reason: string }[] };
    expect(body).toMatchObject({ accepted: 2, rejected: 1 });
    expect(body.errors[0]!.reason).toBe('invalid_json');
  });

  it('answers 413 for a body over the limit, 400 for broken JSON, 401 without or with a wrong token', async () => {
    const d = await startDaemon({ FW_INGEST_MAX_BYTES: '10000' });
    const big = JSON.stringify(Array.from({ length: 200 }, (_, i) => ev('checkout_started', `big${i}`)));
    const tooLarge = await post(d, big);
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ message: expect.stringMatching(/too large/i) });
    const broken = await post(d, '[{"type":');
    expect(broken.status).toBe(400);
    const noToken = await fetch(`${d.httpUrl}/v1/events`, {
      method: 'POST',
      body: '[]',
      headers: { 'content-type': 'application/json' },
    });
    expect(noToken.status).toBe(401);
    expect(await noToken.json()).toMatchObject({ error: 'UNAUTHORIZED', message: expect.stringContaining('Bearer') });
    const wrong = await post(d, '[]', { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    const empty = await post(d, '[]');
    expect(empty.status).toBe(400);
  });

  it("reads producers' own field names when FW_EVENT_FIELDS maps them", async () => {
    const d = await startDaemon({ FW_EVENT_FIELDS: 'type=event_name,ts=occurred_at,entity=checkout_id,attrs=props' });
    const r = await post(
      d,
      JSON.stringify([
        { event_name: 'checkout_started', occurred_at: now - 30_000, checkout_id: 'f1', props: { platform: 'web' } },
        { type: 'checkout_started', ts: now, entity: 'f2' },
      ]),
    );
    const body = (await r.json()) as { accepted: number; errors: { reason: string }[] };
    expect(body.accepted).toBe(1);
    expect(body.errors.map((e) => e.reason)).toEqual(['unknown_envelope']);
    const checkout = d.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    const byPlatform = await windowQueries(d.windows).dimensionVolume({
      funnel: checkout,
      from: now - 3_600_000,
      to: now + 60_000,
      dimension: 'platform',
    });
    expect(byPlatform.values.web?.[0]).toBe(1);
  });

  it('keeps counting exactly once across requests and a restart of the daemon', async () => {
    const prefix = uniquePrefix();
    const d1 = await startDaemon({ FW_REDIS_PREFIX: prefix });
    await post(d1, JSON.stringify([ev('checkout_started', 'r1'), ev('checkout_started', 'r2')]));
    await d1.stop();
    const d2 = await startDaemon({ FW_REDIS_PREFIX: prefix });
    await post(d2, JSON.stringify([ev('checkout_started', 'r3')]));
    const checkout = d2.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    const t = await d2.windows.stepTotals({ funnel: checkout, from: now - 3_600_000, to: now + 60_000 });
    expect(t.volume[0]).toBe(3);
  });
});

describe('POST /v1/events with Kafka (produced to the events topic)', () => {
  it('produces accepted events keyed by entity, and the consumer applies them', async () => {
    const topic = uniqueName('events');
    const d = await startDaemon({
      FW_KAFKA_BROKERS: kafkaBrokers().join(','),
      FW_KAFKA_TOPICS: topic,
      FW_KAFKA_GROUP: uniqueName('g'),
      FW_KAFKA_FROM_BEGINNING: 'true',
    });
    const r = await post(
      d,
      JSON.stringify([ev('checkout_started', 'k1'), ev('payment_submitted', 'k1', 500), { bad: true }]),
    );
    expect(await r.json()).toMatchObject({ accepted: 2, rejected: 1 });

    const consumer = kafka().consumer({ groupId: uniqueName('reader') });
    await consumer.connect();
    onTestFinished(() => consumer.disconnect());
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: { key: string; type: string }[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push({ key: message.key!.toString(), type: JSON.parse(message.value!.toString()).type });
      },
    });
    await eventually(() => (seen.length >= 2 ? true : undefined), 30_000, 'two messages on the topic');
    expect(seen).toEqual([
      { key: 'k1', type: 'checkout_started' },
      { key: 'k1', type: 'payment_submitted' },
    ]);

    const checkout = d.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    await eventually(
      async () => {
        const t = await d.windows.stepTotals({ funnel: checkout, from: now - 3_600_000, to: now + 60_000 });
        return t.volume[0] === 1 && t.volume[1] === 1 ? true : undefined;
      },
      30_000,
      'the daemon to apply the produced events',
    );
  });
});

/** An event well over FW_EVENT_MAX_BYTES=2000 whose fields are each within their own limits. */
const oversized = (entity: string) =>
  ev(
    'checkout_started',
    entity,
    0,
    Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`a${i}`, 'x'.repeat(200)])),
  );

describe('POST /v1/events answers for exactly what it keeps (oversized events in a JSON array)', () => {
  it('without Kafka: rejects the oversized event by index and applies exactly the accepted ones', async () => {
    const d = await startDaemon({ FW_EVENT_MAX_BYTES: '2000' });
    const r = await post(
      d,
      JSON.stringify([ev('checkout_started', 'o1'), oversized('o2'), ev('checkout_started', 'o3')]),
    );
    expect(r.status).toBe(200);
    const body = (await r.json()) as {
      accepted: number;
      rejected: number;
      errors: { index: number; reason: string }[];
    };
    expect(body).toMatchObject({ accepted: 2, rejected: 1 });
    expect(body.errors.map((e) => [e.index, e.reason])).toEqual([[1, 'oversized']]);
    const single = await post(d, JSON.stringify(oversized('o4')));
    expect(await single.json()).toMatchObject({
      accepted: 0,
      rejected: 1,
      errors: [{ index: 0, reason: 'oversized' }],
    });
    const checkout = d.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    const t = await d.windows.stepTotals({ funnel: checkout, from: now - 3_600_000, to: now + 60_000 });
    expect(t.volume[0]).toBe(2);
    const metrics = await (await fetch(`${d.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^fw_events_rejected_total\{reason="oversized"\} 2$/m);
    expect(metrics).toMatch(/^fw_events_applied_total\{funnel="checkout"\} 2$/m);
  });

  it('with Kafka: produces only the accepted events, and the consumer applies every one of them', async () => {
    const topic = uniqueName('events');
    const d = await startDaemon({
      FW_EVENT_MAX_BYTES: '2000',
      FW_KAFKA_BROKERS: kafkaBrokers().join(','),
      FW_KAFKA_TOPICS: topic,
      FW_KAFKA_GROUP: uniqueName('g'),
      FW_KAFKA_FROM_BEGINNING: 'true',
    });
    const r = await post(
      d,
      JSON.stringify([oversized('q0'), ev('checkout_started', 'q1'), ev('checkout_started', 'q2')]),
    );
    expect(await r.json()).toMatchObject({ accepted: 2, rejected: 1, errors: [{ index: 0, reason: 'oversized' }] });
    const checkout = d.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    await eventually(
      async () => {
        const t = await d.windows.stepTotals({ funnel: checkout, from: now - 3_600_000, to: now + 60_000 });
        return t.volume[0] === 2 ? true : undefined;
      },
      30_000,
      'the daemon to apply the two accepted events',
    );
    // Nothing accepted was dead-lettered on the way: the consumer's own rejections are the HTTP ones only.
    const metrics = await (await fetch(`${d.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^fw_events_rejected_total\{reason="oversized"\} 1$/m);
    expect(metrics).toMatch(/^fw_events_applied_total\{funnel="checkout"\} 2$/m);
  });
});
