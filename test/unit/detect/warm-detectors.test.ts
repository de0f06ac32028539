import { describe, expect, it } from 'vitest';
import { calibrationsDone } from '../../../src/detect/thresholds.js';
import { evaluateRule } from '../../../src/detect/evaluate-rule.js';
import { RuleMemory } from '../../../src/detect/rule-look.js';
import type { SeriesReader } from '../../../src/detect/series-reader.js';
import { warmDetectors } from '../../../src/detect/warm-detectors.js';
import type { AlertRuleDef, MetricDef } from '../../../src/rules/rule.js';
import { testFunnel, testRule } from '../../support/engine-fixtures.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const EVAL_TO = 1_000 * HOUR;

const funnel = testFunnel({
  name: 'signup',
  steps: [
    { name: 'started', event: 'signup_started' },
    { name: 'verified', event: 'email_verified' },
  ],
  // A bucket width no other test uses, so this file's calibrations are its own (the cache is per process).
  bucketMs: 3 * MIN,
});

function rule(name: string, metric: MetricDef, resolveAfterMs: number): AlertRuleDef {
  return testRule({ name, funnel: 'signup', metric, resolveAfterMs });
}

/** A steady funnel: 300 starts and 180 verifications per bucket. */
const reader: SeriesReader = {
  bucketMs: 3 * MIN,
  rollupMs: 15 * MIN,
  fine: () => ({ volume: [300, 180], cohort: [300, 180] }),
  rollup: () => undefined,
  durations: () => undefined,
  values: () => [],
};

describe('warmDetectors', () => {
  it('calibrates at load what the first evaluation of each metric kind would otherwise simulate', () => {
    const rules = [
      rule('conv', { kind: 'ratio_conversion', from: 'started', to: 'verified' }, 21 * MIN),
      rule('cohort', { kind: 'cohort_conversion', from: 'started', to: 'verified' }, 33 * MIN),
      rule('volume', { kind: 'step_volume', step: 'started' }, 21 * MIN),
    ];
    const before = calibrationsDone();
    warmDetectors([funnel], rules);
    // 21 and 33 minutes of resolve_after at 3-minute steps, and the default 10 minutes of the volume detector.
    expect(calibrationsDone()).toBe(before + 3);
    warmDetectors([funnel], rules);
    expect(calibrationsDone()).toBe(before + 3);
    for (const r of rules) {
      const results = evaluateRule({ rule: r, funnel, reader, evalTo: EVAL_TO, memory: new RuleMemory() });
      expect(results.length).toBe(1);
    }
    expect(calibrationsDone()).toBe(before + 3);
  });

  it('skips rules whose funnel is not in the set', () => {
    const before = calibrationsDone();
    warmDetectors([], [rule('orphan', { kind: 'step_volume', step: 'started' }, 27 * MIN)]);
    expect(calibrationsDone()).toBe(before);
  });
});
