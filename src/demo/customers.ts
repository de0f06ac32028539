/**
 * The demo's simulated customers: clients of the shop (shop-service.ts) that start checkouts and signups at a given
 * rate across platforms, regions, payment providers and app versions, with realistic pauses between steps (tens of
 * seconds, a long tail of minutes). About 20% abandon before paying and the issuer declines a quarter of the rest:
 * about 60% checkout completion.
 *
 * Each customer goes through the shop either in-process (its handlers called directly, for bulk traffic: the demo
 * plays 100 minutes of history in and runs thousands of checkouts a minute on 2 cores) or over HTTP (a sampled
 * share, through one undici pool), chosen per customer when it starts. Everything a customer will do is drawn from
 * the seeded PRNG when it starts, so the same seed gives the same customers whatever the HTTP answers' timing.
 */
import { Pool } from 'undici';
import { mulberry32 } from '../core/prng.js';
import type { PROVIDERS, ShopAnswer, ShopRequest } from './shop-service.js';

const PLATFORMS = [
  ['ios', 0.4],
  ['android', 0.35],
  ['web', 0.25],
] as const;
const REGIONS = [
  ['eu', 0.45],
  ['us', 0.4],
  ['apac', 0.15],
] as const;
const PROVIDER_SHARES = [
  ['adyen', 0.45],
  ['stripe', 0.4],
  ['paypal', 0.15],
] as const satisfies readonly (readonly [(typeof PROVIDERS)[number], number])[];
const APP_VERSIONS = [
  ['5.2.0', 0.6],
  ['5.1.3', 0.3],
  ['5.0.9', 0.1],
] as const;

export type ShopCall = (req: Omit<ShopRequest, 'at'>, at: number) => ShopAnswer;

const CUSTOMER_PASSWORD = 'hunter2-demo';

export interface CustomersOptions {
  seed: number;
  /** Journeys started per minute (80% checkouts, 20% signups). */
  checkoutsPerMinute: number;
  startTime: number;
  /** The shop's handlers, in-process. */
  local: ShopCall;
}

interface Rollout {
  version: string;
  share: number;
  from: number;
  brokenPlatform?: string;
}

interface Customer {
  kind: 'checkout' | 'signup';
  headers: Record<string, string>;
  http: boolean;
  /** Pauses before each later stage (ms); a missing one: the customer leaves there. */
  delays: number[];
  provider: string;
  card: string;
  email: string;
  vars: Record<string, string>;
}

interface Due {
  at: number;
  customer: Customer;
  stage: number;
}

/** A binary min-heap on `at`: the customers' next actions, due in time order. */
class DueQueue {
  private readonly h: Due[] = [];
  get size(): number {
    return this.h.length;
  }
  peek(): Due | undefined {
    return this.h[0];
  }
  push(d: Due): void {
    const h = this.h;
    h.push(d);
    let i = h.length - 1;
    // Sift up: parents move down until `d` fits.
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= d.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = d;
  }
  pop(): Due | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let mAt = last.at;
        if (l < h.length && h[l]!.at < mAt) {
          m = l;
          mAt = h[l]!.at;
        }
        if (r < h.length && h[r]!.at < mAt) m = r;
        if (m === i) break;
        h[i] = h[m]!;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }
}

export class Customers {
  private readonly rnd: () => number;
  private readonly queue = new DueQueue();
  private lastTick: number;
  private carry = 0;
  private seq = 0;
  private rollout: Rollout | undefined;
  private http: { pool: Pool; share: number } | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** Customers started, by transport (the README and the demo say how much went over HTTP). */
  readonly started = { inProcess: 0, http: 0 };
  /** HTTP requests that did not get an answer (the shop's server is in the same process: should stay 0). */
  transportErrors = 0;

  constructor(private readonly o: CustomersOptions) {
    this.rnd = mulberry32(o.seed);
    this.lastTick = o.startTime;
  }

  /**
   * From `at` on, `share` of the checkouts start on app version `version`; on `brokenPlatform` its payment button
   * does nothing (nobody gets to pay). `share` 0 ends the rollout.
   */
  setRollout(version: string, share: number, at: number, brokenPlatform?: string): void {
    this.rollout = share > 0 ? { version, share, from: at, ...(brokenPlatform ? { brokenPlatform } : {}) } : undefined;
  }

  /** Customers starting from now on go over HTTP to `url` with probability `share` (0 stops it). */
  useHttp(url: string, share: number): void {
    const old = this.http?.pool;
    this.http = share > 0 ? { pool: new Pool(url, { connections: 16, keepAliveTimeout: 5_000 }), share } : undefined;
    if (old) void old.close();
  }

  /**
   * Starts the customers due in (last tick, now] and runs every in-process action due by `now`, in time order;
   * HTTP customers' requests are sent and not waited for (their events arrive when the shop handles them).
   */
  advance(now: number): void {
    const span = Math.max(0, now - this.lastTick);
    const expected = (span / 60_000) * this.o.checkoutsPerMinute + this.carry;
    const n = Math.floor(expected);
    this.carry = expected - n;
    for (let i = 0; i < n; i++) {
      const t0 = this.lastTick + this.rnd() * span;
      this.queue.push({ at: t0, customer: this.rnd() < 0.8 ? this.checkout(t0) : this.signup(), stage: 0 });
    }
    this.lastTick = now;
    while (this.queue.size > 0 && this.queue.peek()!.at <= now) {
      const due = this.queue.pop()!;
      const http = due.customer.http ? this.http : undefined;
      if (!http) {
        this.actLocal(due);
        continue;
      }
      const p = this.actHttp(due, http.pool).catch(() => {
        this.transportErrors++;
      });
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }
  }

  /** Waits for the HTTP requests in flight and closes the pool. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    await this.http?.pool.close();
    this.http = undefined;
  }

  private pick<T extends readonly (readonly [string, number])[]>(table: T): T[number][0] {
    let r = this.rnd();
    for (const [v, w] of table) {
      if ((r -= w) < 0) return v;
    }
    return table[table.length - 1]![0];
  }

  /** Log-normal-ish delay: most steps take tens of seconds, a long tail takes minutes. */
  private delay(medianMs: number): number {
    const u = Math.max(1e-9, this.rnd());
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.rnd());
    return Math.round(medianMs * Math.exp(0.8 * z));
  }

  private base(): Pick<Customer, 'headers' | 'http' | 'vars'> {
    const httpRoll = this.rnd();
    const http = this.http !== undefined && httpRoll < this.http.share;
    if (http) this.started.http++;
    else this.started.inProcess++;
    return {
      headers: { 'x-platform': this.pick(PLATFORMS), 'x-region': this.pick(REGIONS) },
      http,
      vars: {},
    };
  }

  private checkout(t0: number): Customer {
    const b = this.base();
    const provider = this.pick(PROVIDER_SHARES);
    let version: string = this.pick(APP_VERSIONS);
    const r = this.rollout;
    if (r && t0 >= r.from && this.rnd() < r.share) version = r.version;
    b.headers['x-app-version'] = version;
    const delays: number[] = [];
    const pays = this.rnd() <= 0.8; // else abandoned before paying
    const deadButton = r !== undefined && version === r.version && b.headers['x-platform'] === r.brokenPlatform;
    if (pays && !deadButton) delays.push(this.delay(45_000), this.delay(8_000));
    const card = `4000${Math.floor(this.rnd() * 1e12)
      .toString()
      .padStart(12, '0')}`;
    return { ...b, kind: 'checkout', delays, provider, card, email: '' };
  }

  private signup(): Customer {
    const b = this.base();
    b.headers['x-app-version'] = this.pick(APP_VERSIONS);
    const delays: number[] = [];
    if (this.rnd() <= 0.7) {
      delays.push(this.delay(90_000));
      if (this.rnd() <= 0.8) delays.push(this.delay(120_000));
    }
    const email = `customer${this.o.seed}-${(this.seq++).toString(36)}@shop.example.com`;
    return { ...b, kind: 'signup', delays, provider: '', card: '', email };
  }

  /** Runs one stage in-process, to the end, before returning. */
  private actLocal(due: Due): void {
    const g = this.stage(due);
    let r = g.next();
    while (!r.done) r = g.next(this.o.local(r.value, due.at) as ShopAnswer);
  }

  /** Runs one stage over HTTP. */
  private async actHttp(due: Due, pool: Pool): Promise<void> {
    const g = this.stage(due);
    let r = g.next();
    while (!r.done) r = g.next(await httpCall(pool, r.value));
  }

  /**
   * One stage of a customer's journey, as the requests it makes (yielded; each answer comes back), whichever the
   * transport; the next stage is queued when this one went through.
   */
  private *stage(due: Due): Generator<Omit<ShopRequest, 'at'>, void, ShopAnswer> {
    const c = due.customer;
    const post = (path: string, body: Record<string, unknown>) => ({ method: 'POST', path, headers: c.headers, body });
    let passed = false;
    if (c.kind === 'checkout') {
      if (due.stage === 0) {
        const cart = yield post('/api/cart', { sku: 'sku-basic-tee', quantity: 1 });
        if (cart.status === 201) {
          const started = yield post(`/api/cart/${String(cart.body.cart_id)}/checkout`, { provider: c.provider });
          passed = started.status === 201;
          c.vars.checkout = String(started.body.checkout_id);
        }
      } else if (due.stage === 1) {
        const paid = yield post(`/api/checkout/${c.vars.checkout}/payment`, { provider: c.provider, card: c.card });
        passed = paid.status === 200;
      } else {
        passed = (yield post(`/api/checkout/${c.vars.checkout}/confirm`, {})).status === 200;
      }
    } else if (due.stage === 0) {
      passed = (yield post('/api/signup', { email: c.email, password: CUSTOMER_PASSWORD })).status === 201;
    } else if (due.stage === 1) {
      const mail = yield {
        method: 'GET',
        path: `/api/test-mailbox/${encodeURIComponent(c.email)}`,
        headers: c.headers,
      };
      const token = (mail.body.messages as { token: string }[] | undefined)?.[0]?.token;
      passed = token !== undefined && (yield post('/api/verify', { token })).status === 200;
    } else {
      passed = (yield post('/api/login', { email: c.email, password: CUSTOMER_PASSWORD })).status === 200;
    }
    const pause = c.delays[due.stage];
    if (passed && pause !== undefined) this.queue.push({ at: due.at + pause, customer: c, stage: due.stage + 1 });
  }
}

async function httpCall(pool: Pool, req: Omit<ShopRequest, 'at'>): Promise<ShopAnswer> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = v;
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  const res = await pool.request({
    method: req.method as 'GET' | 'POST',
    path: req.path,
    headers,
    ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}
