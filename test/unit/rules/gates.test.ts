import { describe, it, expect } from 'vitest';
import { checkRuleSources } from '../../../src/rules/loader.js';
import { formatProblem } from '../../../src/rules/problem.js';
import { GATE_EXAMPLE } from '../../../src/rules/reference-doc.js';
import { loadRulePaths } from '../../../src/rules/loader.js';

const FUNNEL = `funnel:
  name: checkout
  steps:
    - { name: started,   event: checkout_started }
    - { name: payment,   event: payment_submitted }
    - { name: completed, event: order_completed }
  conversion_window: 30m
  dimensions: [platform, app_version]
`;

const RECEIVERS = `receivers:
  - name: slack-payments
    slack: { channel: C0PAYMENTS1 }
  - name: pd
    pagerduty: { routing_key: { env: PD_KEY } }
`;

function messages(files: Record<string, string>): string[] {
  const r = checkRuleSources(Object.entries(files).map(([path, text]) => ({ path, text })));
  return r.ok ? [] : r.problems.map(formatProblem);
}

describe('gates in rule files', () => {
  it('the reference example becomes a GateDef in code units, with the defaults filled in', () => {
    const r = checkRuleSources([
      { path: 'checkout.yaml', text: FUNNEL + GATE_EXAMPLE },
      { path: 'receivers.yaml', text: RECEIVERS },
    ]);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([]);
    if (!r.ok) return;
    expect(r.ruleSet.gates).toEqual([
      {
        name: 'checkout-canary',
        funnel: 'checkout',
        metric: { kind: 'cohort_conversion', from: 'started', to: 'completed' },
        splitBy: 'app_version',
        drop: 0.05,
        falseFail: 0.05,
        power: 0.8,
        expectedWeight: 0.1,
        warmupMs: 300_000,
        maxDurationMs: 4 * 3_600_000,
        onTimeout: 'inconclusive',
        onSrm: 'hold',
        notify: ['slack-payments'],
        source: { file: 'checkout.yaml', line: 10, col: 5 },
      },
    ]);
  });

  it('the shipped rules define checkout-canary on checkout, split by app_version, started -> completed', async () => {
    const r = await loadRulePaths(['rules'], { requireReceivers: true });
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([]);
    const g = r.ok ? r.ruleSet.gates.find((x) => x.name === 'checkout-canary') : undefined;
    expect(g).toMatchObject({
      funnel: 'checkout',
      splitBy: 'app_version',
      metric: { kind: 'cohort_conversion', from: 'started', to: 'completed' },
    });
  });

  it('a broken gate is reported at file:line:col with what is wrong', () => {
    const text = `${FUNNEL}gates:
  - name: canary
    metric: { cohort_conversion: { from: started, to: complete } }
    split_by: version
    drop: 5%
    power: 40%
    warmup: 90s
    notify: [pd, nobody]
`;
    expect(messages({ 'checkout.yaml': text, 'receivers.yaml': RECEIVERS })).toEqual([
      'checkout.yaml:11:55: unknown step "complete" in funnel "checkout" (did you mean "completed"?); ' +
        'its steps are started, payment, completed',
      'checkout.yaml:12:15: "version" is not a dimension of funnel "checkout"; ' +
        'its dimensions are platform, app_version',
      'checkout.yaml:14:12: power: 40%: give more than 50% and less than 100% (80% is usual)',
      'checkout.yaml:15:13: warmup: 90s — a gate counts whole minutes; write e.g. 5m',
      'checkout.yaml:16:14: receiver "pd" is PagerDuty: a gate\'s verdict is news for the rollout\'s owners, not an ' +
        'incident; notify a Slack, webhook or console receiver (the rollout tool acts on a fail)',
      'checkout.yaml:16:18: unknown receiver "nobody"; configured receivers: console, slack-payments, pd',
    ]);
  });

  it('schema problems are located too (missing drop, a misspelt key, a step_volume metric)', () => {
    const text = `${FUNNEL}gates:
  - name: canary
    metric: { step_volume: { step: started } }
    split_by: app_version
    warmpu: 5m
`;
    const out = messages({ 'checkout.yaml': text });
    expect(out.join('\n')).toMatch(/checkout\.yaml:10:5: .*drop/);
    expect(out.join('\n')).toMatch(/checkout\.yaml:11:15: .*step_volume/);
    expect(out.join('\n')).toMatch(/checkout\.yaml:13:5: .*warmpu/);
  });

  it('gate names are unique across files', () => {
    const gate = `gates:
  - name: canary
    metric: { ratio_conversion: { from: payment, to: completed } }
    split_by: app_version
    drop: 10%
`;
    expect(messages({ 'a.yaml': FUNNEL + gate, 'b.yaml': `funnel: checkout\n${gate}` })).toEqual([
      'b.yaml:3:11: gate name "canary" is already used at a.yaml:10:11; gate names must be unique across rule files',
    ]);
  });

  it('history and bucket limits: max_duration beyond the fine retention, a bucket wider than a minute', () => {
    const funnel = FUNNEL.replace('conversion_window: 30m', 'conversion_window: 30m\n  bucket: 5m');
    const text = `${funnel}gates:
  - name: canary
    metric: { cohort_conversion: { from: started, to: completed } }
    split_by: app_version
    drop: 5%
    max_duration: 5d
`;
    const out = messages({ 'checkout.yaml': text });
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^checkout\.yaml:13:15: funnel "checkout" keeps 5m buckets; a gate looks once a minute/);
    expect(out[1]).toMatch(/^checkout\.yaml:15:19: warmup \+ max_duration \(5d5m\) is longer than funnel "checkout"/);
  });
});
