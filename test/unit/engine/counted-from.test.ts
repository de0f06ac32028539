import { describe, expect, it } from 'vitest';
import { countedFromStep } from '../../../src/engine/evaluator.js';
import type { MetricDef } from '../../../src/rules/rule.js';
import { testFunnel, testRule } from '../../support/engine-fixtures.js';

const funnel = testFunnel();
const rule = (metric: MetricDef) => testRule({ metric });

describe('countedFromStep (what an alert says it counted)', () => {
  it('names the from step of a conversion measured past the entry step', () => {
    expect(countedFromStep(rule({ kind: 'ratio_conversion', from: 'payment', to: 'completed' }), funnel)).toBe(
      'payment',
    );
    expect(countedFromStep(rule({ kind: 'cohort_conversion', from: 'payment', to: 'completed' }), funnel)).toBe(
      'payment',
    );
  });

  it('leaves entry-step conversions and other metrics to the funnel noun', () => {
    expect(
      countedFromStep(rule({ kind: 'cohort_conversion', from: 'started', to: 'completed' }), funnel),
    ).toBeUndefined();
    expect(countedFromStep(rule({ kind: 'step_volume', step: 'payment' }), funnel)).toBeUndefined();
    expect(
      countedFromStep(rule({ kind: 'step_duration', from: 'payment', to: 'completed', percentile: 0.95 }), funnel),
    ).toBeUndefined();
  });
});
