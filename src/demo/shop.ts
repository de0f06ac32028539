/**
 * A simulated shop: checkout and signup journeys across platforms, regions, payment providers and app versions,
 * about 60% checkout completion, with realistic delays between steps. Deterministic for a given seed; time is
 * passed in, so the demo runs it on the wall clock and benchmarks on virtual time.
 *
 * `tick(now)` returns the events whose event time has come. Incidents are knobs: `setProviderFailure('adyen', 0.9,
 * at)` makes that provider's payments submitted from `at` on fail (the demo's story); journeys already under way are
 * affected too, as payments are with a real provider outage.
 */
import type { FwEvent } from '../events/event.js';
import { mulberry32 } from '../core/prng.js';

export interface ShopOptions {
  seed: number;
  /** Checkout journeys started per minute (signups are a quarter of that). */
  checkoutsPerMinute: number;
  startTime: number;
}

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
const PROVIDERS = [
  ['adyen', 0.45],
  ['stripe', 0.4],
  ['paypal', 0.15],
] as const;
const APP_VERSIONS = [
  ['5.2.0', 0.6],
  ['5.1.3', 0.3],
  ['5.0.9', 0.1],
] as const;

/** A completion that happens only if the provider was not failing when the payment was submitted. */
interface Pending {
  at: number;
  event: FwEvent;
  payment?: { provider: string; at: number; roll: number };
}

interface Rollout {
  version: string;
  share: number;
  from: number;
  brokenPlatform?: string;
}

interface FailureSpan {
  rate: number;
  from: number;
  to: number;
}

export class Shop {
  private readonly rnd: () => number;
  private readonly queue: Pending[] = [];
  private lastTick: number;
  private seq = 0;
  private carry = 0;
  private readonly failures = new Map<string, FailureSpan[]>();
  /** A canary app version taking a share of the checkouts started from `from` on (the canary story). */
  private rollout: Rollout | undefined;
  /** Count of events emitted per type, for the demo's live view. */
  readonly emitted = new Map<string, number>();

  constructor(private readonly opts: ShopOptions) {
    this.rnd = mulberry32(opts.seed);
    this.lastTick = opts.startTime;
  }

  /** From `at` on, this share of the provider's payments fail (0 ends a failure). */
  setProviderFailure(provider: string, failureRate: number, at: number): void {
    const spans = this.failures.get(provider) ?? [];
    const open = spans[spans.length - 1];
    if (open && open.to === Infinity) open.to = at;
    if (failureRate > 0) spans.push({ rate: failureRate, from: at, to: Infinity });
    this.failures.set(provider, spans);
  }

  /**
   * From `at` on, `share` of the checkouts start on app version `version`; on `brokenPlatform` its payment button
   * does nothing (nobody gets to pay). `share` 0 ends the rollout.
   */
  setRollout(version: string, share: number, at: number, brokenPlatform?: string): void {
    this.rollout = share > 0 ? { version, share, from: at, ...(brokenPlatform ? { brokenPlatform } : {}) } : undefined;
  }

  private failureAt(provider: string, at: number): number {
    return this.failures.get(provider)?.find((f) => at >= f.from && at < f.to)?.rate ?? 0;
  }

  /** Advances to `now` and returns the events due, in event-time order. */
  tick(now: number): FwEvent[] {
    const elapsedMin = Math.max(0, now - this.lastTick) / 60_000;
    const expected = elapsedMin * this.opts.checkoutsPerMinute + this.carry;
    const n = Math.floor(expected);
    this.carry = expected - n;
    for (let i = 0; i < n; i++) {
      const start = this.lastTick + this.rnd() * (now - this.lastTick);
      if (this.rnd() < 0.8) this.startCheckout(start);
      else this.startSignup(start);
    }
    this.lastTick = now;
    this.queue.sort((a, b) => a.at - b.at);
    let k = 0;
    while (k < this.queue.length && this.queue[k]!.at <= now) k++;
    const due = this.queue
      .splice(0, k)
      .filter((p) => !p.payment || p.payment.roll >= this.failureAt(p.payment.provider, p.payment.at))
      .map((p) => p.event);
    for (const e of due) this.emitted.set(e.type, (this.emitted.get(e.type) ?? 0) + 1);
    return due;
  }

  private pick<T extends readonly (readonly [string, number])[]>(table: T): string {
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

  private push(
    at: number,
    type: string,
    entity: string,
    attrs: Record<string, string>,
    payment?: Pending['payment'],
  ): void {
    this.queue.push({
      at,
      event: { id: `evt_${(this.seq++).toString(36)}`, type, ts: Math.round(at), entity, attrs },
      ...(payment ? { payment } : {}),
    });
  }

  private startCheckout(t0: number): void {
    const entity = `chk_${(this.seq++).toString(36)}`;
    const attrs = {
      platform: this.pick(PLATFORMS),
      region: this.pick(REGIONS),
      payment_provider: this.pick(PROVIDERS),
      app_version: this.pick(APP_VERSIONS),
    };
    const r = this.rollout;
    if (r && t0 >= r.from && this.rnd() < r.share) attrs.app_version = r.version;
    this.push(t0, 'checkout_started', entity, attrs);
    if (this.rnd() > 0.8) return; // abandoned before paying
    if (r && attrs.app_version === r.version && attrs.platform === r.brokenPlatform) return; // the button is dead
    const t1 = t0 + this.delay(45_000);
    this.push(t1, 'payment_submitted', entity, attrs);
    if (this.rnd() > 0.75) return; // declined: 0.8 × 0.75 = 60% complete
    // Whether the provider is failing is decided when the completion falls due, against the payment's time.
    const payment = { provider: attrs.payment_provider, at: t1, roll: this.rnd() };
    this.push(t1 + this.delay(8_000), 'order_completed', entity, { ...attrs, status: 'paid' }, payment);
  }

  private startSignup(t0: number): void {
    const entity = `usr_${(this.seq++).toString(36)}`;
    const attrs = { platform: this.pick(PLATFORMS), region: this.pick(REGIONS), app_version: this.pick(APP_VERSIONS) };
    this.push(t0, 'signup_started', entity, attrs);
    if (this.rnd() > 0.7) return;
    const t1 = t0 + this.delay(90_000);
    this.push(t1, 'email_verified', entity, attrs);
    if (this.rnd() > 0.8) return;
    this.push(t1 + this.delay(120_000), 'first_login', entity, attrs);
  }
}
