/**
 * `docs/rule-reference.md`, written from the JSON Schema (itself generated from the zod schema), so every field's
 * type, default, description and example in the reference is the one the validator and the editor use.
 */
import { RULE_DEFAULTS } from './schema.js';
import { ruleFileJsonSchema, type JsonSchema } from './json-schema.js';
import { ATTRIBUTE_PATTERN, NAME_PATTERN } from './schema.js';
import { DURATION_PATTERN, PERCENT_PATTERN, PERCENTILE_PATTERN, RATE_PATTERN } from './units.js';

/** A complete file for the top of the reference; a unit test checks that it validates. */
export const REFERENCE_EXAMPLE = `# yaml-language-server: $schema=./schema.json
funnel:
  name: checkout
  entity: attrs.checkout_id
  steps:
    - { name: started,   event: checkout_started }
    - { name: payment,   event: payment_submitted }
    - { name: completed, event: order_completed, where: { status: paid } }
  conversion_window: 30m
  dimensions: [platform, region, { name: payment_provider, max_values: 15 }]
  services: [payments-service, checkout-web]
rules:
  - name: checkout-completion-drop
    metric: { cohort_conversion: { from: started, to: completed } }
    drop: 5%
    baseline: { seasonal: { weeks: 4 } }
    false_alarms: 1/week
    min_volume: 200
    for: 3m
    resolve_after: 10m
    severity: critical
    segments: [payment_provider, platform]
    notify: [pagerduty-checkout, slack-payments]
    owner: payments-team
    runbook: https://example.com/runbooks/checkout
    labels: { team: payments }
`;

/** The `gates:` part of a funnel's file, for the reference; a unit test checks that it validates. */
export const GATE_EXAMPLE = `gates:
  - name: checkout-canary
    metric: { cohort_conversion: { from: started, to: completed } }
    split_by: app_version
    drop: 5%
    false_fail: 5%
    power: 80%
    expected_weight: 10%
    warmup: 5m
    max_duration: 4h
    on_timeout: inconclusive
    on_srm: hold
    notify: [slack-payments]
`;

/** A receivers file for the reference; a unit test checks that it validates. */
export const RECEIVERS_EXAMPLE = `# yaml-language-server: $schema=./schema.json
receivers:
  - name: slack-payments
    slack: { channel: C0PAYMENTS1, token: { env: SLACK_BOT_TOKEN } }
  - name: pagerduty-checkout
    pagerduty:
      routing_key: { file: /run/secrets/pagerduty-checkout }
      dashboard_url: https://grafana.example.com/d/funnels?var-funnel={funnel}
  - name: ops-webhook
    webhook: { url: https://hooks.example.com/funnelwatch, secret: { env: FUNNELWATCH_WEBHOOK_SECRET } }
`;

export function renderRuleReference(schema: JsonSchema = ruleFileJsonSchema()): string {
  const out: string[] = [];
  out.push(
    '# Rule file reference',
    '',
    '<!-- Generated from src/rules/schema.ts by `node scripts/gen-schema.mjs`. Do not edit by hand. -->',
    '',
    'Each file in `rules/` (`*.yaml` or `*.yml`) defines one funnel and the alert rules on it. A file may instead add',
    'rules to a funnel defined in another file by naming it: `funnel: checkout`. Funnel names and rule names must be',
    'unique across all files. Check your changes with `funnelwatch validate rules/`; it prints every problem as',
    '`path:line:col: message`. The first line of a file,',
    '`# yaml-language-server: $schema=./schema.json`, lets VS Code (YAML extension) complete fields and underline',
    'mistakes as you type.',
    '',
    'The daemon re-reads the directory when a file changes (or on SIGHUP). If anything is wrong, it keeps running the',
    'rules it had and reports the problems in its log and on `/readyz`.',
    '',
    '```yaml',
    REFERENCE_EXAMPLE.trimEnd(),
    '```',
    '',
    '## Values',
    '',
    '| Kind | Write | Examples |',
    '|---|---|---|',
    '| duration | a whole number and a unit: `s`, `m`, `h`, `d` (day), `w` (week); ' +
      'units can be combined, largest first | `30s`, `5m`, `2h`, `1h30m`, `3d`, `1w` |',
    '| percentage | a number and `%` | `5%`, `0.5%`, `30%` |',
    '| alarm budget | alarms per `day`, `week`, `month` or `year` | `1/week`, `2/month`, `1/day` |',
    '| percentile | `p` and a number below 100 | `p50`, `p95`, `p99` |',
    '| name | lower-case letters, digits, `-` and `_` | `checkout`, `checkout-completion-drop` |',
    '',
    'YAML reads `yes`, `no`, `on` and `off` as text, not true/false. Quote values that start with a special character',
    '(`*`, `&`, `!`, `%`, `@`).',
    '',
  );

  const props = schema.properties ?? {};
  out.push('## The file', '', ...table(schema), '');
  const funnelObject = objectIn(props.funnel);
  if (funnelObject) section(out, '## `funnel`', 'funnel', funnelObject);
  const rule = objectIn(props.rules);
  if (rule) section(out, '## `rules[]`', 'rules[]', rule);
  const gate = objectIn(props.gates);
  if (gate) {
    out.push(
      '## `gates[]`',
      '',
      'A canary gate compares two values of one funnel dimension (`split_by`: the canary version and its stable',
      'baseline) on one conversion, with a sequential test that stays valid however often it is asked, and answers',
      '`pass`, `fail` or `inconclusive`. Argo Rollouts (`web` metric), Flagger (webhooks) and CI',
      '(`funnelwatch gate`) ask it through `GET /v1/gates/<name>/verdict?canary=…&baseline=…`; see the README,',
      '"Canary gate". Gate names are unique across files; the funnel must keep buckets of 1m (or a fraction of it).',
      '',
      '```yaml',
      GATE_EXAMPLE.trimEnd(),
      '```',
      '',
    );
    section(out, '### `gates[]` fields', 'gates[]', gate);
  }
  const receiver = objectIn(props.receivers);
  if (receiver) {
    out.push(
      '## `receivers[]`',
      '',
      'Receivers are where notifications go; rules name them in `notify`. They usually live in one file of their own',
      '(`rules/receivers.yaml`, with no `funnel:`), so the people who own the rules can see them, while the secrets',
      'stay in the environment or in secret files. The daemon refuses a rule set whose `notify` names a receiver that',
      'no file defines (a page that would go nowhere); `console` (one line on stdout) always exists.',
      '',
      '```yaml',
      RECEIVERS_EXAMPLE.trimEnd(),
      '```',
      '',
    );
    section(out, '### `receivers[]` fields', 'receivers[]', receiver);
  }

  out.push(
    '## How the rule fields fit together',
    '',
    '- `drop` suits conversions (and volume falling); `increase` suits durations (steps getting slower) and volume',
    '  rising. Give exactly one of them.',
    `- \`false_alarms\` (default \`${RULE_DEFAULTS.falseAlarms}\`) ` +
      `sets how sure the detector must be before it pages; the`,
    '  detector is calibrated for evaluation every minute, so you do not need `for` to suppress noise. Use `for` when',
    '  you want to hear only about drops that last.',
    '- `min_volume` protects quiet hours: with too little traffic the rule says "not enough data" and neither fires',
    '  nor resolves.',
    '- `for` and `resolve_after` are counted in whole minutes; with a `trailing` baseline, `for` must be shorter than',
    '  the baseline window, or the drop becomes part of the baseline before the alert can fire.',
    '- `segments` must be dimensions of the funnel; every value of each segment is evaluated on its own, so a drop in',
    '  one payment provider is found even when the total barely moves.',
    '- A `seasonal` baseline needs history: `weeks` may not exceed what `retention.rollup` keeps. A new installation',
    '  with less history falls back to a trailing baseline and says so in the alert.',
    '',
  );
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

function section(out: string[], heading: string, path: string, schema: JsonSchema): void {
  out.push(heading, '');
  if (schema.description) out.push(schema.description, '');
  out.push(...table(schema, path), '');
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    const obj = objectIn(child);
    if (!obj) continue;
    const childPath = `${path}.${key}${isArray(child) ? '[]' : ''}`;
    section(out, `${'#'.repeat(Math.min(heading.split(' ')[0]!.length + 1, 4))} \`${childPath}\``, childPath, obj);
  }
}

function table(schema: JsonSchema, _path?: string): string[] {
  const rows = ['| Field | Type | Default | Description | Example |', '|---|---|---|---|---|'];
  const required = new Set(schema.required ?? []);
  for (const [key, s] of Object.entries(schema.properties ?? {})) {
    const def = required.has(key) ? '**required**' : 'default' in s ? code(inline(s.default)) : '—';
    const example = firstExample(s);
    rows.push(
      `| \`${key}\` | ${cell(typeName(s))} | ${cell(def)} ` +
        `| ${cell(describe(s))} | ${example === undefined ? '' : cell(code(`${key}: ${inline(example)}`))} |`,
    );
  }
  return rows;
}

function describe(s: JsonSchema): string {
  if (s.description) return s.description;
  return s.anyOf?.map((o) => o.description).find((d) => d) ?? '';
}

function firstExample(s: JsonSchema): unknown {
  if (s.examples?.length) return s.examples[0];
  for (const o of s.anyOf ?? []) if (o.examples?.length) return o.examples[0];
  return undefined;
}

export function typeName(s: JsonSchema): string {
  if (s.anyOf) return [...new Set(s.anyOf.map(typeName))].join(' or ');
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' | ');
  switch (s.type) {
    case 'string':
      if (s.pattern === source(DURATION_PATTERN)) return 'duration';
      if (s.pattern === source(PERCENT_PATTERN)) return 'percentage';
      if (s.pattern === source(RATE_PATTERN)) return 'alarm budget';
      if (s.pattern === source(PERCENTILE_PATTERN)) return 'percentile';
      if (s.pattern === source(NAME_PATTERN)) return 'name';
      if (s.pattern === source(ATTRIBUTE_PATTERN)) return 'attribute name';
      if (s.format === 'uri') return 'URL';
      return 'text';
    case 'integer':
      return 'whole number';
    case 'number':
      return 'number';
    case 'boolean':
      return 'true/false';
    case 'array':
      return `list of ${s.items ? plural(typeName(s.items)) : 'values'}`;
    case 'object':
      if (s.properties) return 'mapping (below)';
      if (s.additionalProperties && typeof s.additionalProperties === 'object') {
        return `mapping of name → ${typeName(s.additionalProperties)}`;
      }
      return 'mapping';
    default:
      return 'value';
  }
}

/** A pattern as it appears in the JSON Schema (RegExp escapes `/`). */
function source(pattern: string): string {
  return new RegExp(pattern).source;
}

function plural(t: string): string {
  if (t === 'mapping (below)') return 'mappings (below)';
  if (t === 'text') return 'text';
  return t.includes(' ') ? t : `${t}s`;
}

function objectIn(s: JsonSchema | undefined): JsonSchema | undefined {
  if (!s) return undefined;
  if (s.type === 'object' && s.properties) return s;
  if (s.type === 'array' && s.items) return objectIn(s.items);
  for (const o of s.anyOf ?? []) {
    const found = objectIn(o);
    if (found) return found;
  }
  return undefined;
}

function isArray(s: JsonSchema): boolean {
  return s.type === 'array';
}

/** A value the way it is written in YAML flow style: `30m`, `[a, b]`, `{ seasonal: { weeks: 4 } }`. */
export function inline(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(inline).join(', ')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    return entries.length === 0 ? '{}' : `{ ${entries.map(([k, x]) => `${k}: ${inline(x)}`).join(', ')} }`;
  }
  return String(v);
}

function code(s: string): string {
  return `\`${s}\``;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
