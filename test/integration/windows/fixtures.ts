/**
 * Shared fixtures of the window store integration tests: a checkout funnel with small caps, and event builders.
 */
import type { FwEvent } from '../../../src/events/event.js';
import { FUNNEL_DEFAULTS, type FunnelDef } from '../../../src/funnels/funnel.js';

/** 2026-11-23T14:00:00Z, on a rollup boundary (15 min) and a fine one (1 min). */
export const T0 = Date.UTC(2026, 10, 23, 14, 0, 0);
export const MIN = 60_000;

export function checkoutFunnel(overrides: Partial<FunnelDef> = {}): FunnelDef {
  return {
    name: 'checkout',
    entityField: 'entity',
    steps: [
      { name: 'start', event: 'checkout_started' },
      { name: 'payment', event: 'payment_submitted' },
      { name: 'order', event: 'order_completed', where: { status: ['paid'] } },
    ],
    conversionWindowMs: 30 * MIN,
    bucketMs: FUNNEL_DEFAULTS.bucketMs,
    allowedLatenessMs: 5 * MIN,
    dimensions: [
      { name: 'platform', maxValues: 2 },
      { name: 'region', maxValues: 3 },
    ],
    services: ['checkout-api'],
    retention: { ...FUNNEL_DEFAULTS.retention },
    ...overrides,
  };
}

const TYPES = ['checkout_started', 'payment_submitted', 'order_completed'];
let seq = 0;

/** An event of step `step` (index into checkoutFunnel) for `entity` at `ts`. */
export function ev(step: number, entity: string, ts: number, attrs: Record<string, string> = {}): FwEvent {
  const base: Record<string, string> = step === 2 ? { status: 'paid' } : {};
  return { id: `e${++seq}`, type: TYPES[step]!, ts, entity, attrs: { ...base, ...attrs } };
}
