/**
 * Funnel and rule definitions for the engine's unit tests, built as the rule loader would leave them: one base each,
 * and each test states only what it is about.
 */
import type { FunnelDef } from '../../src/funnels/funnel.js';
import type { AlertRuleDef } from '../../src/rules/rule.js';

const MIN = 60_000;

/** checkout: started → payment → completed, one-minute buckets, no dimensions. */
export function testFunnel(over: Partial<FunnelDef> = {}): FunnelDef {
  return {
    name: 'checkout',
    entityField: 'entity',
    steps: [
      { name: 'started', event: 'checkout_started' },
      { name: 'payment', event: 'payment_submitted' },
      { name: 'completed', event: 'order_completed' },
    ],
    conversionWindowMs: 30 * MIN,
    bucketMs: MIN,
    allowedLatenessMs: MIN,
    dimensions: [],
    services: [],
    retention: { fineMs: 3 * 86_400_000, rollupBucketMs: 15 * MIN, rollupMs: 35 * 86_400_000 },
    ...over,
  };
}

/** A ratio conversion started → completed on checkout, 10 % drop, trailing 2 h, 1 false alarm a week. */
export function testRule(over: Partial<AlertRuleDef> = {}): AlertRuleDef {
  return {
    name: 'r',
    funnel: 'checkout',
    metric: { kind: 'ratio_conversion', from: 'started', to: 'completed' },
    direction: 'drop',
    minChange: 0.1,
    baseline: { kind: 'trailing', windowMs: 120 * MIN },
    falseAlarmsPerWeek: 1,
    minVolume: 10,
    forMs: 0,
    resolveAfterMs: 10 * MIN,
    severity: 'warning',
    segments: [],
    notify: ['console'],
    labels: {},
    mixShift: 'page',
    source: { file: 'test', line: 1, col: 1 },
    ...over,
  };
}
