import { describe, expect, it } from 'vitest';
import { countedFromStep } from '../../../src/engine/evaluator.js';
import type { FunnelDef } from '../../../src/funnels/funnel.js';
import type { AlertRuleDef, MetricDef } from '../../../src/rules/rule.js';

const MIN = 60_000;
const funnel: FunnelDef = {
  name: 'checkout', entityField: 'entity',
  steps: [{ name: 'started', event: 'checkout_started' }, { name: 'payment', event: 'payment_submitted' },
    { name: 'completed', event: 'order_completed' }],
  conversionWindowMs: 30 * MIN, bucketMs: MIN, allowedLatenessMs: MIN, dimensions: [], services: [],
  retention: { fineMs: 86_400_000, rollupBucketMs: 15 * MIN, rollupMs: 35 * 86_400_000 },
};

function rule(metric: MetricDef): AlertRuleDef {
  return {
    name: 'r', funnel: 'checkout', metric, direction: 'drop', minChange: 0.1, baseline: { kind: 'trailing', windowMs: 2 * 60 * MIN },
    falseAlarmsPerWeek: 1, minVolume: 10, forMs: 0, resolveAfterMs: 10 * MIN, severity: 'warning', segments: [], notify: ['console'],
    labels: {}, mixShift: 'page', source: { file: 'test', line: 1, col: 1 },
  };
}

describe('countedFromStep (what an alert says it counted)', () => {
  it('names the from step of a conversion measured past the entry step', () => {
    expect(countedFromStep(rule({ kind: 'ratio_conversion', from: 'payment', to: 'completed' }), funnel)).toBe('payment');
    expect(countedFromStep(rule({ kind: 'cohort_conversion', from: 'payment', to: 'completed' }), funnel)).toBe('payment');
  });

  it('leaves entry-step conversions and other metrics to the funnel noun', () => {
    expect(countedFromStep(rule({ kind: 'cohort_conversion', from: 'started', to: 'completed' }), funnel)).toBeUndefined();
    expect(countedFromStep(rule({ kind: 'step_volume', step: 'payment' }), funnel)).toBeUndefined();
    expect(countedFromStep(rule({ kind: 'step_duration', from: 'payment', to: 'completed', percentile: 0.95 }), funnel)).toBeUndefined();
  });
});
