import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { ruleArtifacts } from '../../../src/rules/artifacts.js';
import { checkRuleSources } from '../../../src/rules/loader.js';
import { formatProblem } from '../../../src/rules/problem.js';
import { RECEIVERS_EXAMPLE, REFERENCE_EXAMPLE, renderRuleReference } from '../../../src/rules/reference-doc.js';
import { ruleFileJsonSchema } from '../../../src/rules/json-schema.js';

describe('generated rule artifacts', () => {
  // If this fails after a schema change: run `node scripts/gen-schema.mjs` and commit the result.
  it.each(Object.entries(ruleArtifacts()))('%s is up to date with src/rules/schema.ts', (path, generated) => {
    expect(readFileSync(path, 'utf8'), `${path} is stale: run node scripts/gen-schema.mjs`).toBe(generated);
  });

  it('is draft-07 and strict, for yaml-language-server', () => {
    const s = ruleFileJsonSchema();
    expect(s.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(s.additionalProperties).toBe(false);
    const rule = (s.properties!.rules as { items: { required: string[]; additionalProperties: boolean } }).items;
    // Fields with defaults are optional for the author.
    expect(rule.required.sort()).toEqual(['metric', 'name', 'severity']);
    expect(rule.additionalProperties).toBe(false);
  });

  it('the reference example is a valid rule file', () => {
    const r = checkRuleSources([{ path: 'example.yaml', text: REFERENCE_EXAMPLE }]);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([]);
  });

  it('the reference example with the receivers example is a valid rule set whose notify names resolve', () => {
    const r = checkRuleSources([
      { path: 'example.yaml', text: REFERENCE_EXAMPLE },
      { path: 'receivers.yaml', text: RECEIVERS_EXAMPLE },
    ]);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([]);
    expect(r.ok && r.ruleSet.receivers.map((x) => `${x.name}:${x.kind}`)).toEqual([
      'slack-payments:slack',
      'pagerduty-checkout:pagerduty',
      'ops-webhook:webhook',
    ]);
  });

  it('the reference documents the receiver fields', () => {
    const doc = renderRuleReference();
    for (const field of ['slack', 'pagerduty', 'webhook', 'routing_key', 'channel', 'dashboard_url'])
      expect(doc).toContain(`| \`${field}\` |`);
  });

  it('the reference documents every rule field with its default', () => {
    const doc = renderRuleReference();
    for (const field of [
      'conversion_window',
      'max_values',
      'false_alarms',
      'min_volume',
      'resolve_after',
      'mix_shift',
      'percentile',
    ]) {
      expect(doc).toContain(`| \`${field}\` |`);
    }
    expect(doc).toContain('| `false_alarms` | alarm budget | `1/week` |');
    expect(doc).toContain('| `severity` | `critical` \\| `warning` \\| `info` | **required** |');
  });

  it('the example rules carry the schema modeline', () => {
    for (const f of ['rules/checkout.yaml', 'rules/signup.yaml']) {
      expect(readFileSync(f, 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=./schema.json');
    }
  });
});
