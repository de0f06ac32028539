/**
 * The simulated shop as the demos use it: the shop's backend (shop-service.ts, which emits the funnel events when a
 * customer passes a step) and its customers (customers.ts), who reach it in-process or, with `serve` and `useHttp`,
 * over HTTP like the canary users do. Deterministic for a given seed as far as the in-process traffic goes; time is
 * passed in, so the demo runs it on its clock and the canary story on simulated minutes.
 *
 * `tick(now)` moves the customers to `now` and returns the events the shop emitted since the last tick, in
 * event-time order. Incidents are knobs: `setProviderFailure('stripe', 0.85, at)` makes that share of the provider's
 * payments submitted from `at` on fail with a 502, as a bad deploy of the payment integration would.
 */
import type { FwEvent } from '../events/event.js';
import type { Clock } from '../core/clock.js';
import { Customers } from './customers.js';
import { ShopService, type Provider, type ProviderFault } from './shop-service.js';
import { startShopServer, type ShopServer } from './shop-server.js';

export interface ShopOptions {
  seed: number;
  /** Checkout journeys started per minute (signups are a quarter of that). */
  checkoutsPerMinute: number;
  startTime: number;
}

export class Shop {
  readonly service: ShopService;
  readonly customers: Customers;
  private pending: FwEvent[] = [];
  private server: ShopServer | undefined;

  constructor(opts: ShopOptions) {
    this.service = new ShopService({ seed: opts.seed, emit: (e) => this.pending.push(e) });
    this.customers = new Customers({
      seed: opts.seed,
      checkoutsPerMinute: opts.checkoutsPerMinute,
      startTime: opts.startTime,
      local: (req, at) => this.service.handle({ ...req, at }),
    });
  }

  /** Events emitted per type, for the demo's live view. */
  get emitted(): ReadonlyMap<string, number> {
    return this.service.emitted;
  }

  /** From `at` on, this share of the provider's payments fail with a 502 (0 ends the failure). */
  setProviderFailure(provider: Provider, failureRate: number, at: number): void {
    this.setProviderFault(provider, failureRate > 0 ? { rate: failureRate, mode: 'error' } : null, at);
  }

  setProviderFault(provider: Provider, fault: ProviderFault | null, at: number): void {
    this.service.setProviderFault(provider, fault, at);
  }

  /** See Customers.setRollout. */
  setRollout(version: string, share: number, at: number, brokenPlatform?: string): void {
    this.customers.setRollout(version, share, at, brokenPlatform);
  }

  /** Serves the shop over HTTP on `clock` (canary users, sampled customers); returns its base URL. */
  async serve(clock: Clock, port = 0): Promise<string> {
    this.server ??= await startShopServer({ service: this.service, clock, port });
    return this.server.url;
  }

  /** From now on, `share` of the new customers go over HTTP (needs `serve`). */
  useHttp(share: number): void {
    if (!this.server) throw new Error('useHttp needs the shop served first (serve)');
    this.customers.useHttp(this.server.url, share);
  }

  /**
   * Advances the customers to `now` and returns the events emitted since the last tick, in event-time order (those
   * of HTTP customers as the server handled them).
   */
  tick(now: number): FwEvent[] {
    this.customers.advance(now);
    const due = this.pending.sort((a, b) => a.ts - b.ts);
    this.pending = [];
    return due;
  }

  async close(): Promise<void> {
    await this.customers.close();
    await this.server?.close();
    this.server = undefined;
  }
}
