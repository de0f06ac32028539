/**
 * The demo shop as an HTTP service (a real server on a local port, requests through undici): each endpoint emits
 * the funnel events of the step it stands for, in the native envelope, stamped with the shop's clock; a fault makes
 * one provider's payments fail (502, or 402 declines) while the others pay; and the simulated customers reach the
 * same handlers over HTTP and in-process.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { request } from 'undici';
import { ManualClock } from '../../../src/core/clock.js';
import type { FwEvent } from '../../../src/events/event.js';
import { ShopService, TEST_CARDS } from '../../../src/demo/shop-service.js';
import { startShopServer } from '../../../src/demo/shop-server.js';
import { Shop } from '../../../src/demo/shop.js';
import { eventually } from '../../support/env.js';

const T0 = Date.parse('2026-12-08T03:00:00Z');

async function shopUnderTest() {
  const events: FwEvent[] = [];
  const clock = new ManualClock(T0);
  const service = new ShopService({ seed: 5, emit: (e) => events.push(e) });
  const server = await startShopServer({ service, clock });
  onTestFinished(() => server.close());
  const call = async (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, headers = {}) => {
    const res = await request(`${server.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  };
  return { events, clock, service, call };
}

const APP = { 'x-platform': 'android', 'x-region': 'apac', 'x-app-version': '5.1.3' };
const ATTRS = { platform: 'android', region: 'apac', app_version: '5.1.3' };

/** Signs up, confirms and logs in; returns the session. */
async function newCustomer(s: Awaited<ReturnType<typeof shopUnderTest>>, email: string, headers = APP) {
  expect((await s.call('POST', '/api/signup', { email, password: 'long-enough-pw' }, headers)).status).toBe(201);
  const mail = await s.call('GET', `/api/test-mailbox/${encodeURIComponent(email)}`);
  const token = (mail.body.messages as { token: string }[])[0]!.token;
  expect((await s.call('POST', '/api/verify', { token }, headers)).status).toBe(200);
  const login = await s.call('POST', '/api/login', { email, password: 'long-enough-pw' }, headers);
  expect(login.status).toBe(200);
  return String(login.body.session);
}

async function checkout(s: Awaited<ReturnType<typeof shopUnderTest>>, provider: string, card: string) {
  const cart = await s.call('POST', '/api/cart', { sku: 'tee', quantity: 2 }, APP);
  const started = await s.call('POST', `/api/cart/${String(cart.body.cart_id)}/checkout`, { provider }, APP);
  const id = String(started.body.checkout_id);
  const paid = await s.call('POST', `/api/checkout/${id}/payment`, { provider, card }, APP);
  return { id, paid };
}

describe('the demo shop over HTTP', () => {
  it('emits signup_started, email_verified and first_login as a customer signs up, confirms and logs in', async () => {
    const s = await shopUnderTest();
    s.clock.set(T0 + 1_000);
    await newCustomer(s, 'ana+1@example.com');
    const user = s.events[0]!.entity;
    expect(user).toMatch(/^usr_/);
    expect(s.events.map((e) => [e.type, e.entity, e.ts, e.attrs])).toEqual([
      ['signup_started', user, T0 + 1_000, ATTRS],
      ['email_verified', user, T0 + 1_000, ATTRS],
      ['first_login', user, T0 + 1_000, ATTRS],
    ]);
    // A second login is no first login; a used token, a taken address and a wrong password are refused.
    s.clock.set(T0 + 2_000);
    const again = await s.call('POST', '/api/login', { email: 'ana+1@example.com', password: 'long-enough-pw' });
    expect(again.status).toBe(200);
    expect(s.events).toHaveLength(3);
    const taken = await s.call('POST', '/api/signup', { email: 'ana+1@example.com', password: 'long-enough-pw' });
    expect(taken).toEqual({ status: 409, body: { error: 'email_taken', message: expect.stringContaining('ana+1') } });
    const wrong = await s.call('POST', '/api/login', { email: 'ana+1@example.com', password: 'nope-nope-nope' });
    expect(wrong.status).toBe(401);
  });

  it('emits checkout_started, payment_submitted and order_completed (paid) along cart, pay and confirm', async () => {
    const s = await shopUnderTest();
    const session = await newCustomer(s, 'bo@example.com');
    s.events.length = 0;
    s.clock.set(T0 + 60_000);
    const cart = await s.call('POST', '/api/cart', { sku: 'tee', quantity: 2 }, { authorization: `Bearer ${session}` });
    expect(cart).toEqual({ status: 201, body: { cart_id: expect.any(String), items: [{ sku: 'tee', quantity: 2 }] } });
    expect(s.events).toEqual([]); // a cart is no funnel step
    const started = await s.call('POST', `/api/cart/${String(cart.body.cart_id)}/checkout`, { provider: 'adyen' }, APP);
    expect(started.status).toBe(201);
    const id = String(started.body.checkout_id);
    s.clock.set(T0 + 90_000);
    const paid = await s.call(
      'POST',
      `/api/checkout/${id}/payment`,
      { provider: 'adyen', card: TEST_CARDS.adyen },
      APP,
    );
    expect(paid.body).toMatchObject({ status: 'authorized', provider: 'adyen' });
    s.clock.set(T0 + 95_000);
    const confirmed = await s.call('POST', `/api/checkout/${id}/confirm`, {}, APP);
    expect(confirmed.body).toMatchObject({ status: 'paid', order_id: expect.stringMatching(/^ord_/) });
    const order = await s.call('GET', `/api/orders/${String(confirmed.body.order_id)}`);
    expect(order.body).toMatchObject({ status: 'paid', provider: 'adyen', sku: 'tee', quantity: 2 });
    const attrs = { ...ATTRS, payment_provider: 'adyen' };
    expect(s.events.map((e) => [e.type, e.entity, e.ts, e.attrs])).toEqual([
      ['checkout_started', id, T0 + 60_000, attrs],
      ['payment_submitted', id, T0 + 90_000, attrs],
      ['order_completed', id, T0 + 95_000, { ...attrs, status: 'paid' }],
    ]);
    expect(new Set(s.events.map((e) => e.id)).size).toBe(3);
    // Paying twice is refused and emits nothing.
    const twice = await s.call('POST', `/api/checkout/${id}/payment`, { provider: 'adyen', card: TEST_CARDS.adyen });
    expect(twice.status).toBe(404);
    expect(s.events).toHaveLength(3);
  });

  it('a canary user (x-synthetic: true) gets the reserved synthetic attribute on every event it causes', async () => {
    const s = await shopUnderTest();
    await newCustomer(s, 'probe+1@probes.example.com', { ...APP, 'x-synthetic': 'true' } as typeof APP);
    expect(s.events.map((e) => e.attrs.synthetic)).toEqual(['true', 'true', 'true']);
  });

  it('bad requests get a 4xx with a message and emit nothing', async () => {
    const s = await shopUnderTest();
    expect(await s.call('POST', '/api/signup', '{"email": ')).toEqual({
      status: 400,
      body: { error: 'invalid_json', message: 'the body is not JSON' },
    });
    expect((await s.call('POST', '/api/signup', { email: 'x', password: 'long-enough-pw' })).body.error).toBe(
      'invalid_email',
    );
    expect((await s.call('POST', '/api/cart', { sku: 'tee' }, { authorization: 'Bearer forged' })).status).toBe(401);
    expect((await s.call('POST', '/api/cart/cart_zz/checkout', {})).status).toBe(404);
    expect((await s.call('GET', '/api/nowhere')).body).toEqual({
      error: 'not_found',
      message: 'no route GET /api/nowhere',
    });
    expect(s.events).toEqual([]);
  });

  it('a fault on stripe makes its payments fail (502, or 402 declines) while adyen and paypal still pay', async () => {
    const s = await shopUnderTest();
    s.clock.set(T0 + 10_000);
    const put = await s.call('PUT', '/admin/faults/stripe', { rate: 1, mode: 'error' });
    expect(put.body).toMatchObject({ provider: 'stripe', rate: 1, mode: 'error', from: T0 + 10_000 });
    const stripe = await checkout(s, 'stripe', TEST_CARDS.stripe);
    expect(stripe.paid).toEqual({
      status: 502,
      body: { error: 'provider_error', message: 'stripe did not process the payment (upstream 500)' },
    });
    // The customer got to pay (payment_submitted) and never completes.
    expect((await s.call('POST', `/api/checkout/${stripe.id}/confirm`, {})).status).toBe(409);
    for (const provider of ['adyen', 'paypal'] as const) {
      const other = await checkout(s, provider, TEST_CARDS[provider]);
      expect(other.paid.body.status, provider).toBe('authorized');
    }
    const byStripe = s.events.filter((e) => e.attrs.payment_provider === 'stripe').map((e) => e.type);
    expect(byStripe).toEqual(['checkout_started', 'payment_submitted']);

    await s.call('PUT', '/admin/faults/stripe', { rate: 1, mode: 'decline' });
    expect((await checkout(s, 'stripe', TEST_CARDS.stripe)).paid).toEqual({
      status: 402,
      body: { status: 'declined', provider: 'stripe', reason: 'do_not_honor' },
    });
    // The fault ends: the test card pays again.
    await s.call('PUT', '/admin/faults/stripe', { rate: 0 });
    expect((await checkout(s, 'stripe', TEST_CARDS.stripe)).paid.body.status).toBe('authorized');
    expect((await s.call('PUT', '/admin/faults/klarna', { rate: 1 })).status).toBe(404);
    expect((await s.call('PUT', '/admin/faults/stripe', { rate: 2 })).body.error).toBe('invalid_rate');
  });

  it('a fault applies to payments submitted from its time on, and its latency goes with the answer', () => {
    const service = new ShopService({ seed: 1, emit: () => undefined });
    service.setProviderFault('paypal', { rate: 1, mode: 'error', latencyMs: 4_000 }, T0 + 5_000);
    const pay = (at: number) => {
      const h = {};
      const cart = service.handle({ method: 'POST', path: '/api/cart', headers: h, body: { sku: 'a' }, at });
      const path = `/api/cart/${String(cart.body.cart_id)}/checkout`;
      const chk = service.handle({ method: 'POST', path, headers: h, body: { provider: 'paypal' }, at });
      const payPath = `/api/checkout/${String(chk.body.checkout_id)}/payment`;
      return service.handle({ method: 'POST', path: payPath, headers: h, body: { card: TEST_CARDS.paypal }, at });
    };
    expect(pay(T0 + 4_999)).toMatchObject({ status: 200 });
    expect(pay(T0 + 5_000)).toMatchObject({ status: 502, delayMs: 4_000 });
  });
});

describe('the simulated customers', () => {
  it('the same seed gives the same traffic in-process, with about 60% checkout completion', () => {
    const run = () => {
      const shop = new Shop({ seed: 77, checkoutsPerMinute: 600, startTime: T0 });
      const out: FwEvent[] = [];
      for (let m = 1; m <= 10; m++) out.push(...shop.tick(T0 + m * 60_000));
      return out;
    };
    const a = run();
    expect(run()).toEqual(a);
    const count = (type: string) => a.filter((e) => e.type === type).length;
    const rate = count('order_completed') / count('checkout_started');
    expect(rate).toBeGreaterThan(0.5);
    expect(rate).toBeLessThan(0.7);
    expect(count('first_login')).toBeGreaterThan(0);
  });

  it('customers sent over HTTP go through the server and their events come back from the shop', async () => {
    const clock = new ManualClock(T0);
    const shop = new Shop({ seed: 3, checkoutsPerMinute: 120, startTime: T0 });
    onTestFinished(() => shop.close());
    await shop.serve(clock);
    shop.useHttp(1);
    const got: FwEvent[] = [];
    for (let s = 1; s <= 120; s++) {
      clock.set(T0 + s * 1_000);
      got.push(...shop.tick(clock.now()));
    }
    await eventually(
      () => {
        got.push(...shop.tick(clock.now()));
        return got.some((e) => e.type === 'order_completed') ? true : undefined;
      },
      20_000,
      'an order completed over HTTP',
    );
    expect(shop.customers.started.inProcess).toBe(0);
    expect(shop.customers.started.http).toBeGreaterThan(100);
    expect(shop.customers.transportErrors).toBe(0);
    expect(new Set(got.map((e) => e.type))).toContain('checkout_started');
    expect(got.every((e) => e.attrs.synthetic === undefined)).toBe(true);
  });
});
