/**
 * `where:` on a rule (a slice of the funnel): normalized to one dimension and its values, and validated against the
 * funnel's declared dimensions, at the place in the file that is wrong.
 */
import { describe, it, expect } from 'vitest';
import { checkRuleSources } from '../../../src/rules/loader.js';
import { formatProblem } from '../../../src/rules/problem.js';

const FUNNEL = `funnel:
  name: checkout
  steps:
    - { name: started,   event: checkout_started }
    - { name: payment,   event: payment_submitted }
    - { name: completed, event: order_completed }
  conversion_window: 30m
  dimensions: [platform, region]
rules:
  - name: slice-drop
    metric: { cohort_conversion: { from: started, to: completed } }
    drop: 5%
    severity: warning
`;

function check(extra: string): { rules: unknown[] } | string[] {
  const r = checkRuleSources([{ path: 'rules/checkout.yaml', text: `${FUNNEL}${extra}` }]);
  return r.ok ? { rules: r.ruleSet.rules.map((x) => x.where) } : r.problems.map(formatProblem);
}

describe('a rule on a slice (where)', () => {
  it('takes one value or several of one dimension', () => {
    expect(check('    where: { platform: android }\n')).toEqual({
      rules: [{ dimension: 'platform', values: ['android'] }],
    });
    expect(check('    where: { region: [eu, us] }\n')).toEqual({
      rules: [{ dimension: 'region', values: ['eu', 'us'] }],
    });
    expect(check('')).toEqual({ rules: [undefined] });
  });

  it('refuses a dimension the funnel does not declare, naming the ones it does', () => {
    expect(check('    where: { platfrom: android }\n')).toEqual([
      'rules/checkout.yaml:14:12: where: "platfrom" is not a dimension of funnel "checkout" (did you mean ' +
        '"platform"?); its dimensions are platform, region',
    ]);
  });

  it('refuses two dimensions, segments with it, durations, and an empty where', () => {
    expect(check('    where: { platform: android, region: eu }\n')).toEqual([
      'rules/checkout.yaml:14:12: where: a rule watches a slice of one dimension (here platform and region); the ' +
        'windows count each dimension apart, not their combinations: write one rule per dimension',
    ]);
    expect(check('    where: { platform: android }\n    segments: [region]\n')).toEqual([
      'rules/checkout.yaml:15:15: segments cannot be combined with where (the windows hold no platform × segment ' +
        'combinations); write a rule without where for the segments',
    ]);
    const r = checkRuleSources([
      {
        path: 'rules/checkout.yaml',
        text: FUNNEL.replace(
          '{ cohort_conversion: { from: started, to: completed } }\n    drop: 5%',
          '{ step_duration: { from: payment, to: completed, percentile: p95 } }\n    increase: 30%',
        ).concat('    where: { platform: android }\n'),
      },
    ]);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([
      'rules/checkout.yaml:14:12: where: step durations are kept for the whole funnel only; remove where',
    ]);
    expect(check('    where: {}\n')).toEqual(['rules/checkout.yaml:14:12: where: {} selects nothing; remove it']);
  });
});
