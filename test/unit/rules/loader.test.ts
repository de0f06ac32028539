import { describe, it, expect } from 'vitest';
import { checkRuleSources, type RuleSource } from '../../../src/rules/loader.js';
import { formatProblem, type Problem } from '../../../src/rules/problem.js';
import type { RuleSet } from '../../../src/rules/rule-set.js';
import { FUNNEL_DEFAULTS } from '../../../src/funnels/funnel.js';

const FUNNEL = `funnel:
  name: checkout
  steps:
    - { name: started,   event: checkout_started }
    - { name: payment,   event: payment_submitted }
    - { name: completed, event: order_completed, where: { status: paid, attempt: [1, 2], test: false } }
  conversion_window: 30m
  dimensions: [platform, { name: payment_provider, max_values: 15 }]
`;

function file(rules: string, funnel = FUNNEL): string {
  return `${funnel}rules:\n${rules}`;
}

const OK_RULE = `  - name: completion-drop
    metric: { cohort_conversion: { from: started, to: completed } }
    drop: 5%
    severity: critical
`;

function ok(sources: RuleSource[]): RuleSet {
  const r = checkRuleSources(sources);
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  return r.ruleSet;
}

function problems(text: string, path = 'rules/checkout.yaml'): Problem[] {
  const r = checkRuleSources([{ path, text }]);
  if (r.ok) throw new Error('expected problems, got a valid rule set');
  return r.problems;
}

/** 1-based line and column of the `n`th occurrence of `needle`. */
function at(text: string, needle: string, n = 1): { line: number; col: number } {
  let idx = -1;
  for (let i = 0; i < n; i++) {
    idx = text.indexOf(needle, idx + 1);
    if (idx < 0) throw new Error(`${needle} not found`);
  }
  const before = text.slice(0, idx).split('\n');
  return { line: before.length, col: before[before.length - 1]!.length + 1 };
}

describe('a valid file', () => {
  it('becomes a FunnelDef with defaults and an AlertRuleDef in code units', () => {
    const text = file(`  - name: completion-drop
    description: Fewer orders.
    metric: { cohort_conversion: { from: started, to: completed } }
    drop: 5%
    baseline: { trailing: 2h }
    false_alarms: 2/month
    min_volume: 200
    for: 3m
    resolve_after: 10m
    severity: critical
    segments: [payment_provider]
    notify: [pagerduty-checkout]
    owner: payments-team
    runbook: https://example.com/rb
    labels: { team: payments, tier: 1 }
    mix_shift: page
`);
    const set = ok([{ path: 'rules/checkout.yaml', text }]);
    expect(set.funnels).toEqual([
      {
        name: 'checkout',
        entityField: 'entity',
        steps: [
          { name: 'started', event: 'checkout_started' },
          { name: 'payment', event: 'payment_submitted' },
          {
            name: 'completed',
            event: 'order_completed',
            where: { status: ['paid'], attempt: ['1', '2'], test: ['false'] },
          },
        ],
        conversionWindowMs: 1_800_000,
        bucketMs: FUNNEL_DEFAULTS.bucketMs,
        allowedLatenessMs: FUNNEL_DEFAULTS.allowedLatenessMs,
        dimensions: [
          { name: 'platform', maxValues: FUNNEL_DEFAULTS.dimensionMaxValues },
          { name: 'payment_provider', maxValues: 15 },
        ],
        services: [],
        retention: { ...FUNNEL_DEFAULTS.retention },
      },
    ]);
    expect(set.rules).toEqual([
      {
        name: 'completion-drop',
        funnel: 'checkout',
        description: 'Fewer orders.',
        metric: { kind: 'cohort_conversion', from: 'started', to: 'completed' },
        direction: 'drop',
        minChange: 0.05,
        baseline: { kind: 'trailing', windowMs: 7_200_000 },
        falseAlarmsPerWeek: (2 * 7 * 12) / 365.2425,
        minVolume: 200,
        forMs: 180_000,
        resolveAfterMs: 600_000,
        severity: 'critical',
        segments: ['payment_provider'],
        notify: ['pagerduty-checkout'],
        owner: 'payments-team',
        runbook: 'https://example.com/rb',
        labels: { team: 'payments', tier: '1' },
        mixShift: 'page',
        source: { file: 'rules/checkout.yaml', ...at(text, 'name: completion-drop') },
      },
    ]);
    expect(set.files).toEqual(['rules/checkout.yaml']);
    expect(set.version).toMatch(/^r-[0-9a-f]{16}$/);
  });

  it('fills rule defaults', () => {
    const [rule] = ok([{ path: 'a.yaml', text: file(OK_RULE) }]).rules;
    expect(rule).toMatchObject({
      baseline: { kind: 'seasonal', weeks: 4 },
      falseAlarmsPerWeek: 1,
      minVolume: 100,
      forMs: 0,
      resolveAfterMs: 600_000,
      segments: [],
      notify: [],
      labels: {},
      mixShift: 'ignore',
    });
    expect(rule).not.toHaveProperty('owner');
  });

  it('reads every metric kind', () => {
    const set = ok([
      {
        path: 'a.yaml',
        text: file(
          '  - { name: r1, metric: { ratio_conversion: { from: started, to: payment } }, drop: 5%, severity: info }\n' +
            '  - { name: r2, metric: { step_volume: { step: started } }, increase: 50%, severity: info }\n' +
            '  - { name: r3, metric: { step_duration: { from: payment, to: completed } }, ' +
            'increase: 30%, severity: info }\n' +
            '  - { name: r4, metric: { step_duration: { from: started, to: completed, percentile: p99 } }, ' +
            'increase: 30%, severity: info }\n',
        ),
      },
    ]);
    expect(set.rules.map((r) => r.metric)).toEqual([
      { kind: 'ratio_conversion', from: 'started', to: 'payment' },
      { kind: 'step_volume', step: 'started' },
      { kind: 'step_duration', from: 'payment', to: 'completed', percentile: 0.95 },
      { kind: 'step_duration', from: 'started', to: 'completed', percentile: 0.99 },
    ]);
    expect(set.rules[1]!.direction).toBe('increase');
  });

  it('is frozen, so nobody edits the active set in place', () => {
    const set = ok([{ path: 'a.yaml', text: file(OK_RULE) }]);
    expect(Object.isFrozen(set)).toBe(true);
    expect(Object.isFrozen(set.rules[0]!.segments)).toBe(true);
    expect(Object.isFrozen(set.funnels[0]!.steps[2]!.where)).toBe(true);
  });

  it('has a version that follows the content, not the directory it was read from', () => {
    const a = ok([{ path: 'rules/a.yaml', text: file(OK_RULE) }]).version;
    expect(ok([{ path: '/etc/funnelwatch/a.yaml', text: file(OK_RULE) }]).version).toBe(a);
    expect(ok([{ path: 'rules/a.yaml', text: `${file(OK_RULE)}\n# comment\n` }]).version).not.toBe(a);
  });

  it('lets a file add rules to a funnel defined in another file', () => {
    const set = ok([
      { path: 'rules/checkout.yaml', text: file(OK_RULE) },
      {
        path: 'rules/checkout-extra.yaml',
        text:
          'funnel: checkout\nrules:\n' +
          '  - { name: other, metric: { step_volume: { step: started } }, ' +
          'drop: 50%, severity: warning, segments: [platform] }\n',
      },
    ]);
    expect(set.funnels).toHaveLength(1);
    expect(set.rules.map((r) => `${r.funnel}/${r.name}`).sort()).toEqual([
      'checkout/completion-drop',
      'checkout/other',
    ]);
  });
});

describe('located problems', () => {
  it('points at an unknown key and suggests the allowed one', () => {
    const text = file(`${OK_RULE}    resolveAfter: 10m\n`);
    expect(problems(text).map(formatProblem)).toEqual([
      `rules/checkout.yaml:${at(text, 'resolveAfter').line}:${at(text, 'resolveAfter').col}: ` +
        `unknown field "resolveAfter" in rules[0] (did you mean "resolve_after"?)`,
    ]);
  });

  it('takes `alerts:` holding rules for `rules:` and reports every mistake in it at once', () => {
    const text = `${FUNNEL}alerts:
  - name: completion-drop
    metric: { cohort_conversion: { from: started, to: complete } }
    drop: 5%
    severity: critical
  - name: payment-drop
    metric: { ratio_conversion: { from: started, to: payment } }
    drop: 5 percent
    severity: critical
  - name: completion-drop
    metric: { step_volume: { step: started } }
    drop: 50%
    severty: warning
`;
    const ps = problems(text);
    const where = (needle: string, n = 1) =>
      `rules/checkout.yaml:${at(text, needle, n).line}:${at(text, needle, n).col}`;
    const lines = ps.map(formatProblem);
    expect(lines).toEqual([
      `${where('alerts')}: unknown field "alerts" (did you mean "rules"? its content has the shape of rules, ` +
        'so it is checked as rules below)',
      // Checked against the funnel, as a rule in `rules:` is.
      `${where('complete }')}: unknown step "complete" in funnel "checkout" (did you mean "completed"?); ` +
        'its steps are started, payment, completed',
      // Schema mistakes, located in `alerts:` and named by its path.
      `${where('5 percent')}: alerts[1].drop: "5 percent" is not a percentage: write a number followed by %, ` +
        'e.g. 5% (did you mean "5%"?)',
      // Unique names, as across `rules:`.
      `${where('completion-drop', 2)}: rule name "completion-drop" is already used at ` +
        `${where('completion-drop')}; rule names must be unique across rule files`,
      `${where('severty')}: unknown field "severty" in alerts[2] (did you mean "severity"?)`,
    ]);
    expect(ps.map((p) => p.code)).not.toContain('missing_field');
  });

  it('checks a misspelt top-level key (`rule:`) as the key it names', () => {
    const text = `${FUNNEL}rule:
  - name: r
    metric: { step_volume: { step: strated } }
    drop: 50%
    severity: info
`;
    const lines = problems(text).map(formatProblem);
    expect(lines[0]).toBe(
      `rules/checkout.yaml:${at(text, 'rule:').line}:1: unknown field "rule" (did you mean "rules"? ` +
        'it is checked as rules below)',
    );
    expect(lines.some((l) => l.includes('"strated"') && l.includes('did you mean "started"'))).toBe(true);
  });

  it('suggests nothing for an unknown top-level key whose content fits no known key', () => {
    const [p] = problems(`${FUNNEL}${'rules:\n'}${OK_RULE}owners: [team-a]\n`);
    expect(p!.message).toMatch(/^unknown field "owners"; allowed here: funnel, rules, gates, receivers$/);
  });

  it('lists the allowed keys when nothing is close', () => {
    const [p] = problems(file(`${OK_RULE}    threshold: 3\n`));
    expect(p!.message).toMatch(
      /unknown field "threshold" in rules\[0\]; allowed here: name, description, metric, drop/,
    );
    expect(p!.code).toBe('unknown_field');
  });

  it('reports a misspelt required key once, as the typo', () => {
    const text = file(`  - name: r
    metric: { cohort_conversion: { from: started, to: completed } }
    drop: 5%
    severty: critical
`);
    const ps = problems(text);
    expect(ps.map((p) => p.message)).toEqual(['unknown field "severty" in rules[0] (did you mean "severity"?)']);
  });

  it('finds unknown keys inside nested and union-typed values', () => {
    const text = file(OK_RULE, FUNNEL.replace('max_values: 15', 'max_value: 15')).replace(
      '{ from: started, to: completed } }',
      '{ from: started, too: completed } }',
    );
    const ps = problems(text);
    expect(ps.map((p) => [p.line, p.col, p.message])).toEqual([
      [
        at(text, 'max_value').line,
        at(text, 'max_value').col,
        'unknown field "max_value" in funnel.dimensions[1] (did you mean "max_values"?)',
      ],
      [
        at(text, 'too:').line,
        at(text, 'too:').col,
        'unknown field "too" in rules[0].metric.cohort_conversion (did you mean "to"?)',
      ],
    ]);
  });

  it('says what a missing field should be, at the mapping that lacks it', () => {
    const text = file(`  - name: r
    metric: { cohort_conversion: { from: started, to: completed } }
    drop: 5%
`);
    const [p] = problems(text);
    expect(p).toMatchObject({ ...at(text, 'name: r'), code: 'missing_field' });
    expect(p!.message).toBe('rules[0]: missing required field "severity" (one of critical, warning, info)');
  });

  it('words wrong types for people, not programmers', () => {
    const text = file(`  - name: r
    metric: { cohort_conversion: { from: started, to: completed } }
    drop: 5
    severity: critcal
    segments: platform
`);
    expect(problems(text).map((p) => [p.line, p.code, p.message])).toEqual([
      [at(text, 'drop').line, 'wrong_type', 'rules[0].drop: 5 needs a % sign: write 5%'],
      [
        at(text, 'severity').line,
        'invalid_value',
        'rules[0].severity: the text "critcal" is not allowed: ' +
          'write one of critical, warning, info (did you mean "critical"?)',
      ],
      [at(text, 'segments').line, 'wrong_type', 'rules[0].segments: expected a list, got the text "platform"'],
    ]);
  });

  it('reports a value of none of the accepted types', () => {
    const [p] = problems(file(OK_RULE, FUNNEL.replace('[platform, {', '[[platform], {')));
    expect(p!.message).toBe('funnel.dimensions[0]: expected text or a mapping (key: value), got a list');
  });

  it('reports YAML syntax errors at their position', () => {
    const text = 'funnel:\n  name: checkout\n  name: again\n';
    expect(problems(text).map(formatProblem)).toEqual([
      'rules/checkout.yaml:3:3: Map keys must be unique: this key appears twice in the same mapping',
    ]);
    const tab = problems('funnel:\n\tname: x\n');
    expect(tab[0]).toMatchObject({ line: 2, code: 'yaml_syntax' });
    expect(tab[0]!.message).toMatch(/indent with spaces/);
  });

  it('explains an empty file or a file that is not a mapping', () => {
    expect(problems('')[0]!.message).toMatch(
      /a rule file is a mapping with "funnel:" and "rules:", but this file holds an empty value/,
    );
    expect(problems('- a\n- b\n')[0]!.message).toMatch(/but this file holds a list/);
  });

  it('checks rules even when another rule in the file is broken', () => {
    const text = file(`  - name: broken
    metric: { cohort_conversion: { from: started, to: completed } }
    drop: lots
    severity: critical
  - name: wrong-step
    metric: { cohort_conversion: { from: started, to: complete } }
    drop: 5%
    severity: critical
`);
    expect(problems(text).map((p) => p.code)).toEqual(['invalid_percent', 'unknown_step']);
  });
});

describe('semantic checks', () => {
  const msg = (rules: string, funnel?: string) => problems(file(rules, funnel)).map((p) => p.message);

  it('unknown step, with the funnel steps and a suggestion', () => {
    const text = file(OK_RULE.replace('to: completed', 'to: complete'));
    const [p] = problems(text);
    expect(p).toMatchObject({ code: 'unknown_step', ...at(text, 'complete }') });
    expect(p!.message).toBe(
      'unknown step "complete" in funnel "checkout" (did you mean "completed"?); ' +
        'its steps are started, payment, completed',
    );
  });

  it('steps in the wrong order', () => {
    expect(msg(OK_RULE.replace('from: started, to: completed', 'from: completed, to: started'))).toEqual([
      '"completed" comes after "started" in funnel "checkout"; swap from and to',
    ]);
  });

  it('a segment that is not a dimension', () => {
    const text = file(`${OK_RULE}    segments: [platform, payment_providers]\n`);
    const [p] = problems(text);
    expect(p).toMatchObject({ code: 'unknown_dimension', ...at(text, 'payment_providers') });
    expect(p!.message).toBe(
      '"payment_providers" is not a dimension of funnel "checkout" (did you mean "payment_provider"?); ' +
        'its dimensions are platform, payment_provider',
    );
  });

  it('exactly one metric, and a change that fits it', () => {
    expect(
      msg(OK_RULE.replace('metric: { cohort_conversion: { from: started, to: completed } }', 'metric: {}')),
    ).toEqual(['metric: choose one of cohort_conversion, ratio_conversion, step_volume, step_duration']);
    expect(msg(OK_RULE.replace('} }', '}, step_volume: { step: started } }'))[0]).toMatch(
      /names both cohort_conversion and step_volume/,
    );
    expect(msg(OK_RULE.replace('drop: 5%', 'increase: 5%'))).toEqual([
      'a conversion rule alerts on drops: write drop: instead of increase:',
    ]);
    expect(msg(OK_RULE.replace('    drop: 5%\n', ''))[0]).toMatch(/say how big a change matters/);
    expect(msg(OK_RULE.replace('drop: 5%', 'drop: 120%'))[0]).toMatch(/nothing drops by more than 100%/);
    expect(msg(OK_RULE.replace('drop: 5%', 'drop: 5%\n    increase: 5%'))[0]).toMatch(/either drop or increase/);
  });

  it('timing that cannot work', () => {
    expect(msg(`${OK_RULE}    for: 30s\n`)[0]).toMatch(/evaluated every 1m, so write whole minutes \(e.g. 1m\)/);
    expect(msg(`${OK_RULE}    resolve_after: 0m\n`)[0]).toMatch(/resolve on the first normal minute/);
    expect(msg(`${OK_RULE}    for: 2d\n`)[0]).toMatch(/more than a day/);
    expect(msg(`${OK_RULE}    baseline: { trailing: 1h }\n    for: 1h\n`)[0]).toMatch(
      /not shorter than the trailing baseline/,
    );
    expect(msg(`${OK_RULE}    baseline: { trailing: 5m }\n`)[0]).toMatch(/too short to tell a drop from noise/);
  });

  it('baselines the funnel keeps history for', () => {
    expect(msg(`${OK_RULE}    baseline: { seasonal: { weeks: 6 } }\n`)[0]).toMatch(
      /needs 6w of history, but funnel "checkout" keeps only 5w/,
    );
    expect(msg(`${OK_RULE}    baseline: { seasonal: { weeks: 2 }, trailing: 2h }\n`)[0]).toMatch(
      /seasonal or trailing, not both/,
    );
  });

  it('funnel shape', () => {
    const dupStep = FUNNEL.replace('name: payment,', 'name: started,');
    expect(problems(file(OK_RULE, dupStep))[0]!.message).toBe(
      'step "started" is listed twice; step names must be unique',
    );
    const wideBucket = FUNNEL.replace(
      'conversion_window: 30m',
      'conversion_window: 30m\n  bucket: 1h\n  retention: { rollup_bucket: 11m }',
    );
    expect(problems(file(OK_RULE, wideBucket)).map((p) => p.message)).toEqual([
      'bucket (1h) is wider than conversion_window (30m); use a bucket of at most the conversion window',
      'rollup_bucket 11m must divide a week evenly (e.g. 5m, 15m, 1h), so the same time of week lines up',
    ]);
  });

  it('unknown receivers, when the receivers are known', () => {
    const r = checkRuleSources([{ path: 'a.yaml', text: file(`${OK_RULE}    notify: [slack-payment]\n`) }], {
      knownReceivers: new Set(['slack-payments', 'pagerduty-checkout']),
    });
    expect(r.ok ? [] : r.problems.map((p) => p.message)).toEqual([
      'unknown receiver "slack-payment" (did you mean "slack-payments"?); ' +
        'configured receivers: console, slack-payments, pagerduty-checkout',
    ]);
  });
});

describe('receivers', () => {
  const RECEIVERS = `receivers:
  - name: slack-payments
    slack: { channel: C0PAYMENTS1 }
  - name: pagerduty-checkout
    pagerduty: { routing_key: { env: PD_KEY }, dashboard_url: "https://g.example.com/d?f={funnel}" }
  - name: hook
    webhook: { url: https://hooks.example.com/x, secret: { file: /run/secrets/hook } }
  - name: stdout
    console: {}
`;

  it('are read from a file of their own, with defaults, and resolve notify names across files', () => {
    const set = ok([
      {
        path: 'rules/checkout.yaml',
        text: file(`${OK_RULE}    notify: [slack-payments, pagerduty-checkout, console]\n`),
      },
      { path: 'rules/receivers.yaml', text: RECEIVERS },
    ]);
    expect(set.receivers).toEqual([
      {
        name: 'slack-payments',
        kind: 'slack',
        channel: 'C0PAYMENTS1',
        token: { env: 'SLACK_BOT_TOKEN' },
        source: { file: 'rules/receivers.yaml', line: 2, col: 5 },
      },
      {
        name: 'pagerduty-checkout',
        kind: 'pagerduty',
        routingKey: { env: 'PD_KEY' },
        dashboardUrl: 'https://g.example.com/d?f={funnel}',
        source: { file: 'rules/receivers.yaml', line: 4, col: 5 },
      },
      {
        name: 'hook',
        kind: 'webhook',
        url: 'https://hooks.example.com/x',
        secret: { file: '/run/secrets/hook' },
        source: { file: 'rules/receivers.yaml', line: 6, col: 5 },
      },
      { name: 'stdout', kind: 'console', source: { file: 'rules/receivers.yaml', line: 8, col: 5 } },
    ]);
  });

  it("reads a rule's own group_by", () => {
    const r = checkRuleSources([{ path: 'a.yaml', text: file(`${OK_RULE}    group_by: [funnel, rule]\n`) }]);
    expect(r.ok ? r.ruleSet.rules[0]!.groupBy : r.problems.map(formatProblem)).toEqual(['funnel', 'rule']);
  });

  it("reads a receiver's grouping and the alertmanager kind; refuses a bad group_by and duration", () => {
    const text = `receivers:
  - name: am
    group_by: [funnel, rule]
    group_wait: 45s
    group_interval: 2m
    repeat_interval: 0s
    alertmanager: { url: http://alertmanager:9093, external_url: https://fw.example.com }
`;
    const r = checkRuleSources([{ path: 'rules/receivers.yaml', text }]);
    expect(r.ok ? r.ruleSet.receivers : r.problems.map(formatProblem)).toEqual([
      {
        name: 'am',
        grouping: { groupBy: ['funnel', 'rule'], groupWaitMs: 45_000, groupIntervalMs: 120_000, repeatIntervalMs: 0 },
        kind: 'alertmanager',
        url: 'http://alertmanager:9093',
        externalUrl: 'https://fw.example.com',
        source: { file: 'rules/receivers.yaml', line: 2, col: 5 },
      },
    ]);
    const bad = checkRuleSources([
      {
        path: 'rules/receivers.yaml',
        text: 'receivers:\n  - name: am\n    group_by: [fun-nel]\n    group_wait: soon\n    console: {}\n',
      },
    ]);
    expect(bad.ok ? [] : bad.problems.map((p) => `${p.line}:${p.col}`)).toEqual(['3:16', '4:17']);
  });

  it('once any file defines receivers, every notify name must be one of them (or console)', () => {
    const r = checkRuleSources([
      { path: 'rules/checkout.yaml', text: file(`${OK_RULE}    notify: [slack-paymnets]\n`) },
      { path: 'rules/receivers.yaml', text: RECEIVERS },
    ]);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([
      'rules/checkout.yaml:14:14: unknown receiver "slack-paymnets" (did you mean "slack-payments"?); ' +
        'configured receivers: console, slack-payments, pagerduty-checkout, hook, stdout',
    ]);
  });

  it('requireReceivers checks notify names even when no file defines receivers', () => {
    const text = file(`${OK_RULE}    notify: [pagerduty-checkout]\n`);
    expect(checkRuleSources([{ path: 'a.yaml', text }]).ok).toBe(true);
    const r = checkRuleSources([{ path: 'a.yaml', text }], { requireReceivers: true });
    expect(r.ok ? [] : r.problems.map((p) => p.message)).toEqual([
      'unknown receiver "pagerduty-checkout"; configured receivers: console',
    ]);
  });

  it('refuse a secret written in the file, two kinds in one receiver, none, duplicates and the built-in name', () => {
    const bad = `receivers:
  - name: pd
    pagerduty: { routing_key: 0123456789abcdef0123456789abcdef }
  - name: both
    slack: { channel: C0PAYMENTS1 }
    webhook: { url: https://x.example.com }
  - name: nothing
  - name: pd
    console: {}
  - name: console
    console: {}
  - name: chan
    slack: { channel: payments }
`;
    const r = checkRuleSources([{ path: 'receivers.yaml', text: bad }]);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([
      'receivers.yaml:3:31: receivers[0].pagerduty.routing_key: expected a mapping (key: value), ' +
        'got the text "0123456789abcdef0123456789abcdef": say where the secret is: ' +
        '{ env: VARIABLE_NAME } or { file: /path/to/secret }; secrets are never written in rule files',
      'receivers.yaml:6:5: receiver "both" has both slack and webhook; ' +
        'define one receiver per destination (rules can notify several)',
      'receivers.yaml:7:5: receiver "nothing" needs one of slack, pagerduty, webhook, alertmanager or console',
      'receivers.yaml:8:11: receiver name "pd" is already used at receivers.yaml:2:11; receiver names must be unique',
      'receivers.yaml:10:11: "console" is a built-in receiver ' +
        '(one line per notification on stdout); give this receiver another name',
      'receivers.yaml:13:23: receivers[5].slack.channel: ' +
        '"payments" is not a Slack channel: write its id (C0123ABCD, safest) or #name',
    ]);
  });

  it('a file with rules but no funnel, or with neither funnel nor receivers, says what it needs', () => {
    const r1 = checkRuleSources([{ path: 'x.yaml', text: `receivers: []\nrules:\n${OK_RULE}` }]);
    expect(r1.ok ? [] : r1.problems.map((p) => p.message)).toContain(
      "rules need a funnel: add `funnel: <name>` to this file, or move the rules to the funnel's file",
    );
    const r2 = checkRuleSources([{ path: 'y.yaml', text: 'rules: []\n' }]);
    expect(r2.ok ? [] : r2.problems.map((p) => p.message)).toEqual([
      'a rule file defines a funnel (`funnel:` with its `rules:`) or receivers (`receivers:`); this one has neither',
    ]);
  });
});

describe('across files', () => {
  it('duplicate rule names point at the second and name the first', () => {
    const r = checkRuleSources([
      { path: 'rules/a.yaml', text: file(OK_RULE) },
      { path: 'rules/b.yaml', text: file(OK_RULE, FUNNEL.replace('name: checkout', 'name: checkout2')) },
    ]);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([
      `rules/b.yaml:${at(file(OK_RULE), 'completion-drop').line}:${at(file(OK_RULE), 'completion-drop').col}: ` +
        `rule name "completion-drop" is already used ` +
        `at rules/a.yaml:${at(file(OK_RULE), 'completion-drop').line}:${at(file(OK_RULE), 'completion-drop').col}; ` +
        `rule names must be unique across rule files`,
    ]);
  });

  it('duplicate funnel names', () => {
    const r = checkRuleSources([
      { path: 'rules/a.yaml', text: file(OK_RULE) },
      { path: 'rules/b.yaml', text: file(OK_RULE.replace('completion-drop', 'other')) },
    ]);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([
      'rules/b.yaml:2:9: funnel "checkout" is already defined at rules/a.yaml:2:9; ' +
        'funnel names must be unique across rule files',
    ]);
  });

  it('a rule file naming a funnel nobody defines', () => {
    const r = checkRuleSources([
      { path: 'rules/a.yaml', text: file(OK_RULE) },
      { path: 'rules/b.yaml', text: `funnel: chekout\nrules:\n${OK_RULE.replace('completion-drop', 'x')}` },
    ]);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([
      'rules/b.yaml:1:9: unknown funnel "chekout" (did you mean "checkout"?); ' +
        'funnels defined in the checked files: checkout',
    ]);
  });
});
