/**
 * The demo shop's backend: signup, email verification (a test mailbox), login, cart, checkout and payment through
 * a provider (adyen, stripe, paypal), then the customer's confirmation (the 3-D Secure / redirect step) that
 * completes the order. Its handlers emit the funnel events, in the native envelope, when a customer passes a step,
 * as a real shop's tracking does; both the simulated customers and the canary users go through them.
 *
 * One router (`handle`) serves two transports: the HTTP server (shop-server.ts) and in-process calls from the
 * traffic generator for bulk traffic. Time comes with each request (`at`), so the same handlers run on the wall
 * clock, the demo's faster clock, or history played in minutes. Seeded: the same requests in the same order give
 * the same answers (declines and fault rolls come from one PRNG).
 *
 * Faults are knobs, as a bad deploy is: `setProviderFault('stripe', { rate: 0.85, mode: 'error' }, at)` makes that
 * share of stripe payments submitted from `at` on answer 502 (`mode: 'decline'`: 402 declines), with `latencyMs`
 * added to each of that provider's answers. Test cards (TEST_CARDS) are never declined by the issuer, only by a
 * fault, so a canary user's payment fails exactly when the provider is broken.
 *
 * Requests marked `x-synthetic: true` (canary users) emit their events with the reserved `synthetic` attribute, so
 * real funnels never count them.
 */
import { mulberry32 } from '../core/prng.js';
import { SYNTHETIC_ATTR, type FwEvent } from '../events/event.js';

export const PROVIDERS = ['adyen', 'stripe', 'paypal'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** Per provider, the test card (or sandbox account) that the issuer always approves. */
export const TEST_CARDS: Readonly<Record<Provider, string>> = {
  stripe: '4242424242424242',
  adyen: '4111111145551142',
  paypal: 'sb-buyer@example.com',
};

/** Share of ordinary payments the issuer declines (the rest of the demo's ~60% checkout completion). */
const ISSUER_DECLINE_RATE = 0.25;
/** Past this many entries a table drops its oldest (the demo runs for hours at thousands of checkouts a minute). */
const TABLE_CAP = 50_000;

export interface ProviderFault {
  /** Share of the provider's payments that fail, 0..1. */
  rate: number;
  /** `error`: the provider answers 502 (an outage, a broken integration); `decline`: 402, every card declined. */
  mode: 'error' | 'decline';
  /** Added to each of the provider's answers (a slow provider); applied by the HTTP server. */
  latencyMs?: number;
}

interface FaultSpan extends Required<ProviderFault> {
  from: number;
  to: number;
}

export interface ShopRequest {
  method: string;
  /** Path and query, e.g. `/api/cart/c_1/checkout`. */
  path: string;
  /** Lower-case header names. */
  headers: Readonly<Record<string, string | undefined>>;
  body?: unknown;
  /** When the shop handles it (ms). */
  at: number;
}

export interface ShopAnswer {
  status: number;
  body: Record<string, unknown>;
  /** How long the answer is held back (a slow provider); the HTTP server waits this long. */
  delayMs?: number;
}

export interface ShopServiceOptions {
  seed: number;
  /** Every funnel event the handlers emit. */
  emit: (event: FwEvent) => void;
}

interface User {
  id: string;
  email: string;
  password: string;
  verified: boolean;
  loggedIn: boolean;
  attrs: Record<string, string>;
}

interface Checkout {
  id: string;
  sku: string;
  quantity: number;
  attrs: Record<string, string>;
  state: 'started' | 'authorized' | 'paid' | 'failed';
  provider?: Provider;
  orderId?: string;
}

/** A Map that forgets its oldest entries past TABLE_CAP (Maps keep insertion order). */
class Table<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    super.set(key, value);
    if (this.size > TABLE_CAP) this.delete(this.keys().next().value!);
    return this;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const ok = (status: number, body: Record<string, unknown>): ShopAnswer => ({ status, body });
const problem = (status: number, error: string, message: string): ShopAnswer => ({
  status,
  body: { error, message },
});

export class ShopService {
  private readonly rnd: () => number;
  private seq = 0;
  private readonly users = new Table<User>();
  private readonly usersByEmail = new Table<string>();
  private readonly sessions = new Table<string>();
  private readonly mailbox = new Table<{ subject: string; token: string }>();
  private readonly verifyTokens = new Table<string>();
  private readonly carts = new Table<{ id: string; items: { sku: string; quantity: number }[]; user?: string }>();
  private readonly checkouts = new Table<Checkout>();
  private readonly orders = new Table<Checkout>();
  private readonly faults = new Map<Provider, FaultSpan[]>();
  /** Events emitted per type (the demo's live view, the tests). */
  readonly emitted = new Map<string, number>();

  constructor(private readonly opts: ShopServiceOptions) {
    this.rnd = mulberry32(opts.seed ^ 0x5eed);
  }

  /** From `at` on, `fault` applies to the provider's payments; null (or rate and latency 0) ends it. */
  setProviderFault(provider: Provider, fault: ProviderFault | null, at: number): void {
    const spans = this.faults.get(provider) ?? [];
    const open = spans[spans.length - 1];
    if (open && open.to === Infinity) open.to = at;
    if (fault && (fault.rate > 0 || (fault.latencyMs ?? 0) > 0))
      spans.push({ latencyMs: 0, ...fault, from: at, to: Infinity });
    this.faults.set(provider, spans);
  }

  faultAt(provider: Provider, at: number): Required<ProviderFault> | undefined {
    return this.faults.get(provider)?.find((f) => at >= f.from && at < f.to);
  }

  /** The router both transports use; never throws for anything a client sends. */
  handle(req: ShopRequest): ShopAnswer {
    const path = req.path.split('?')[0]!.replace(/\/+$/, '');
    const parts = path.split('/').slice(1);
    const route = `${req.method.toUpperCase()} /${parts.map((p, i) => (i >= 2 && i % 2 === 0 ? ':id' : p)).join('/')}`;
    const id = parts[2] ?? '';
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    switch (route) {
      case 'GET /healthz':
        return ok(200, { ok: true });
      case 'POST /api/signup':
        return this.signup(req, body);
      case 'GET /api/test-mailbox/:id':
        return this.readMailbox(safeDecode(id));
      case 'POST /api/verify':
        return this.verify(req, body);
      case 'POST /api/login':
        return this.login(req, body);
      case 'POST /api/cart':
        return this.addToCart(req, body);
      case 'POST /api/cart/:id/checkout':
        return this.startCheckout(req, id, body);
      case 'POST /api/checkout/:id/payment':
        return this.pay(req, id, body);
      case 'POST /api/checkout/:id/confirm':
        return this.confirm(req, id);
      case 'GET /api/orders/:id':
        return this.order(req, id);
      case 'PUT /admin/faults/:id':
        return this.putFault(req, id, body);
      default:
        return problem(404, 'not_found', `no route ${req.method} ${path}`);
    }
  }

  private nextId(prefix: string): string {
    return `${prefix}_${(this.seq++).toString(36)}`;
  }

  private secret(): string {
    return Math.floor(this.rnd() * 2 ** 48).toString(36);
  }

  /** platform, region and app version, as the app reports them in its headers. */
  private clientAttrs(req: ShopRequest): Record<string, string> {
    return {
      platform: req.headers['x-platform'] ?? 'web',
      region: req.headers['x-region'] ?? 'eu',
      app_version: req.headers['x-app-version'] ?? '5.2.0',
    };
  }

  private fire(req: ShopRequest, type: string, entity: string, attrs: Record<string, string>): void {
    const synthetic: Record<string, string> = req.headers['x-synthetic'] === 'true' ? { [SYNTHETIC_ATTR]: 'true' } : {};
    this.emitted.set(type, (this.emitted.get(type) ?? 0) + 1);
    this.opts.emit({
      id: `evt_${(this.seq++).toString(36)}`,
      type,
      ts: Math.round(req.at),
      entity,
      attrs: { ...attrs, ...synthetic },
    });
  }

  /** The user of the request's bearer session; `null` when it has none, an answer when it is not valid. */
  private sessionUser(req: ShopRequest): User | null | ShopAnswer {
    const auth = req.headers.authorization;
    if (!auth) return null;
    const user = this.users.get(this.sessions.get(auth.replace(/^Bearer\s+/i, '')) ?? '');
    return user ?? problem(401, 'unauthorized', 'the session is not valid; log in again');
  }

  private signup(req: ShopRequest, body: Record<string, unknown>): ShopAnswer {
    const { email, password } = body;
    if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i.test(email)) {
      return problem(400, 'invalid_email', 'email: expected an address like ana@example.com');
    }
    if (typeof password !== 'string' || password.length < 8) {
      return problem(400, 'weak_password', 'password: at least 8 characters');
    }
    if (this.usersByEmail.has(email)) return problem(409, 'email_taken', `${email} already has an account`);
    const user: User = {
      id: this.nextId('usr'),
      email,
      password,
      verified: false,
      loggedIn: false,
      attrs: this.clientAttrs(req),
    };
    this.users.set(user.id, user);
    this.usersByEmail.set(email, user.id);
    const token = this.secret();
    this.verifyTokens.set(token, user.id);
    this.mailbox.set(email, { subject: 'Confirm your email', token });
    this.fire(req, 'signup_started', user.id, user.attrs);
    return ok(201, { user_id: user.id, verification: 'sent' });
  }

  /** The test mailbox: what the shop sent an address (a real canary user reads a mail API the same way). */
  private readMailbox(email: string): ShopAnswer {
    const mail = this.mailbox.get(email);
    if (!mail) return problem(404, 'no_mail', `no mail for ${email}`);
    return ok(200, { email, messages: [mail] });
  }

  private verify(req: ShopRequest, body: Record<string, unknown>): ShopAnswer {
    const user = this.users.get(this.verifyTokens.get(String(body.token ?? '')) ?? '');
    if (!user) return problem(400, 'invalid_token', 'the verification token is unknown or was used');
    this.verifyTokens.delete(String(body.token));
    user.verified = true;
    this.fire(req, 'email_verified', user.id, user.attrs);
    return ok(200, { user_id: user.id, verified: true });
  }

  private login(req: ShopRequest, body: Record<string, unknown>): ShopAnswer {
    const user = this.users.get(this.usersByEmail.get(String(body.email ?? '')) ?? '');
    if (!user || user.password !== body.password) return problem(401, 'bad_credentials', 'wrong email or password');
    if (!user.verified) return problem(403, 'unverified', 'confirm your email address first');
    const session = `sess_${this.secret()}`;
    this.sessions.set(session, user.id);
    if (!user.loggedIn) {
      user.loggedIn = true;
      this.fire(req, 'first_login', user.id, user.attrs);
    }
    return ok(200, { user_id: user.id, session });
  }

  private addToCart(req: ShopRequest, body: Record<string, unknown>): ShopAnswer {
    const user = this.sessionUser(req);
    if (user && 'status' in user) return user;
    const quantity = body.quantity ?? 1;
    if (typeof body.sku !== 'string' || body.sku === '') return problem(400, 'invalid_sku', 'sku: expected a text');
    if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > 99) {
      return problem(400, 'invalid_quantity', 'quantity: expected a whole number from 1 to 99');
    }
    const cart = { id: this.nextId('cart'), items: [{ sku: body.sku, quantity }], ...(user ? { user: user.id } : {}) };
    this.carts.set(cart.id, cart);
    return ok(201, { cart_id: cart.id, items: cart.items });
  }

  private startCheckout(req: ShopRequest, cartId: string, body: Record<string, unknown>): ShopAnswer {
    const cart = this.carts.get(cartId);
    if (!cart) return problem(404, 'no_cart', `no cart ${cartId}`);
    const provider = body.provider;
    if (provider !== undefined && !PROVIDERS.includes(provider as Provider)) {
      return problem(400, 'invalid_provider', `provider: one of ${PROVIDERS.join(', ')}`);
    }
    this.carts.delete(cartId);
    const item = cart.items[0]!;
    const c: Checkout = {
      id: this.nextId('chk'),
      sku: item.sku,
      quantity: item.quantity,
      state: 'started',
      attrs: { ...this.clientAttrs(req), ...(provider ? { payment_provider: provider as string } : {}) },
    };
    this.checkouts.set(c.id, c);
    this.fire(req, 'checkout_started', c.id, c.attrs);
    return ok(201, { checkout_id: c.id, payment_url: `/api/checkout/${c.id}/payment` });
  }

  private pay(req: ShopRequest, checkoutId: string, body: Record<string, unknown>): ShopAnswer {
    const c = this.checkouts.get(checkoutId);
    if (!c) return problem(404, 'no_checkout', `no checkout ${checkoutId}`);
    if (c.state !== 'started') return problem(409, 'already_paid', `checkout ${c.id} is ${c.state}`);
    const provider = (body.provider ?? c.attrs.payment_provider) as Provider;
    if (!PROVIDERS.includes(provider)) return problem(400, 'invalid_provider', `provider: one of ${PROVIDERS}`);
    if (typeof body.card !== 'string' || body.card === '') return problem(400, 'invalid_card', 'card: expected text');
    c.provider = provider;
    c.attrs.payment_provider = provider;
    this.fire(req, 'payment_submitted', c.id, c.attrs);
    const fault = this.faultAt(provider, req.at);
    const delay = fault?.latencyMs ? { delayMs: fault.latencyMs } : {};
    const faultRoll = this.rnd();
    const issuerRoll = this.rnd();
    if (fault && faultRoll < fault.rate) {
      c.state = 'failed';
      if (fault.mode === 'error') {
        return {
          ...problem(502, 'provider_error', `${provider} did not process the payment (upstream 500)`),
          ...delay,
        };
      }
      return { status: 402, body: { status: 'declined', provider, reason: 'do_not_honor' }, ...delay };
    }
    if (body.card !== TEST_CARDS[provider] && issuerRoll < ISSUER_DECLINE_RATE) {
      c.state = 'failed';
      return { status: 402, body: { status: 'declined', provider, reason: 'insufficient_funds' }, ...delay };
    }
    c.state = 'authorized';
    return {
      status: 200,
      body: { status: 'authorized', provider, confirm_url: `/api/checkout/${c.id}/confirm` },
      ...delay,
    };
  }

  private confirm(req: ShopRequest, checkoutId: string): ShopAnswer {
    const c = this.checkouts.get(checkoutId);
    if (!c) return problem(404, 'no_checkout', `no checkout ${checkoutId}`);
    if (c.state !== 'authorized') return problem(409, 'not_authorized', `checkout ${c.id} is ${c.state}`);
    c.state = 'paid';
    c.orderId = this.nextId('ord');
    this.orders.set(c.orderId, c);
    this.checkouts.delete(c.id);
    this.fire(req, 'order_completed', c.id, { ...c.attrs, status: 'paid' });
    return ok(200, { status: 'paid', order_id: c.orderId, provider: c.provider });
  }

  /** The fault knob over HTTP (the demo shop has no auth): `{ rate, mode, latency_ms }`, both 0: the fault ends. */
  private putFault(req: ShopRequest, provider: string, body: Record<string, unknown>): ShopAnswer {
    if (!PROVIDERS.includes(provider as Provider)) {
      return problem(404, 'no_provider', `no provider ${provider}; one of ${PROVIDERS.join(', ')}`);
    }
    const { rate, mode = 'error', latency_ms: latencyMs = 0 } = body;
    if (typeof rate !== 'number' || rate < 0 || rate > 1) return problem(400, 'invalid_rate', 'rate: from 0 to 1');
    if (mode !== 'error' && mode !== 'decline') return problem(400, 'invalid_mode', 'mode: error or decline');
    if (typeof latencyMs !== 'number' || latencyMs < 0 || latencyMs > 120_000) {
      return problem(400, 'invalid_latency', 'latency_ms: from 0 to 120000');
    }
    this.setProviderFault(provider as Provider, { rate, mode, latencyMs }, req.at);
    return ok(200, { provider, rate, mode, latency_ms: latencyMs, from: req.at });
  }

  private order(_req: ShopRequest, orderId: string): ShopAnswer {
    const c = this.orders.get(orderId);
    if (!c) return problem(404, 'no_order', `no order ${orderId}`);
    return ok(200, { order_id: orderId, status: c.state, provider: c.provider, sku: c.sku, quantity: c.quantity });
  }
}
