/**
 * Funnel and rule definitions for the engine's unit tests, built as the rule loader would leave them: one base each,
 * and each test states only what it is about.
 */
import type { FunnelDef } from '../../src/funnels/funnel.js';
import type { Evidence } from '../../src/model/evidence.js';
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

/** The evidence of a completion drop by `change` (0.3: 30 % below a 60 % rate), evaluated at `at`. */
export function dropEvidence(change: number, at: number): Evidence {
  return {
    observed: Math.round(600 * (1 - change)),
    expected: 600,
    observedRate: 0.6 * (1 - change),
    expectedRate: 0.6,
    relativeChange: change,
    volume: 1000,
    windowMinutes: 15,
    statistic: 5,
    threshold: 3,
    pValue: 1e-6,
    chanceRatePerWeek: 0.1,
    onset: at - 3 * MIN,
    evaluatedUpTo: at,
    baseline: { kind: 'seasonal', weeksUsed: 4 },
  };
}
