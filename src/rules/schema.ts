/**
 * The shape of a rule file, once, in zod: the loader validates with it, `rules/schema.json` (editor autocompletion
 * and underlining) and `docs/rule-reference.md` are generated from it, so the three cannot disagree.
 *
 * The schema stays declarative on purpose: no transforms and no cross-field refinements, because JSON Schema cannot
 * express them and the editor would then accept what `funnelwatch validate` rejects. Values stay as written
 * (`30m`, `5%`); `normalize.ts` converts them, and `semantics.ts` checks what relates one field to another.
 * Keys are snake_case as people write YAML; every object is strict, so a misspelt key is an error, not ignored.
 */
import { z } from 'zod';
import { FUNNEL_DEFAULTS } from '../funnels/funnel.js';
import {
  DURATION_PATTERN,
  PERCENT_PATTERN,
  PERCENTILE_PATTERN,
  RATE_PATTERN,
  explainDuration,
  explainPercent,
  explainPercentile,
  explainRate,
  formatDuration,
} from './units.js';

/** Defaults of rule fields, in file units (the funnel defaults come from `FUNNEL_DEFAULTS`). */
export const RULE_DEFAULTS = {
  baselineWeeks: 4,
  falseAlarms: '1/week',
  minVolume: 100,
  for: '0m',
  resolveAfter: '10m',
  percentile: 'p95',
  mixShift: 'ignore',
} as const;

/** Defaults of gate fields, in file units. */
export const GATE_DEFAULTS = {
  falseFail: '5%',
  power: '80%',
  warmup: '5m',
  maxDuration: '4h',
  onTimeout: 'inconclusive',
  onSrm: 'hold',
} as const;

export const NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
export const ATTRIBUTE_PATTERN = '^[A-Za-z_][A-Za-z0-9_.-]{0,127}$';
export const ENTITY_PATTERN = '^(?:entity|attrs\\.[A-Za-z_][A-Za-z0-9_.-]{0,127})$';
export const RECEIVER_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$';
export const LABEL_KEY_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,127}$';

// Each helper makes a fresh schema, so every field carries its own description in the JSON Schema.

export function duration(description: string, examples: string[]) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? undefined : explainDuration(iss.input)) })
    .regex(new RegExp(DURATION_PATTERN), { error: (iss) => explainDuration(iss.input), abort: true })
    .meta({ description, examples });
}

/** Labels whose equal values group alerts into one incident (notify/grouping.ts). */
function groupBy(description: string) {
  return z
    .array(
      z.string().regex(new RegExp(`${LABEL_KEY_PATTERN}|^\\.\\.\\.$`), {
        error: (iss) => `${JSON.stringify(iss.input)} is not a label name (or \`...\` for every label)`,
      }),
    )
    .optional()
    .meta({ description, examples: [['funnel'], ['funnel', 'rule']] });
}

function percent(description: string, examples: string[]) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? undefined : explainPercent(iss.input)) })
    .regex(new RegExp(PERCENT_PATTERN), { error: (iss) => explainPercent(iss.input), abort: true })
    .meta({ description, examples });
}

export function name(what: string, description: string, examples: string[]) {
  return z
    .string()
    .regex(new RegExp(NAME_PATTERN), {
      error: (iss) =>
        `${JSON.stringify(iss.input)} is not a valid ${what} name: use lower-case letters, digits, - and _ ` +
        '(at most 64, starting with a letter or digit)',
    })
    .meta({ description, examples });
}

function attribute(description: string, examples: string[]) {
  return z
    .string()
    .regex(new RegExp(ATTRIBUTE_PATTERN), {
      error: (iss) => `${JSON.stringify(iss.input)} is not an attribute name: use letters, digits, _, . and -`,
    })
    .meta({ description, examples });
}

const scalar = z.union([z.string(), z.number(), z.boolean()]);

export const stepSchema = z
  .strictObject({
    name: name('step', 'Name of the step, used by rules and in alerts.', ['payment']),
    event: z
      .string()
      .regex(/^\S+$/, { error: 'an event type cannot be empty or contain spaces' })
      .meta({ description: 'Event type that counts as reaching this step.', examples: ['payment_submitted'] }),
    where: z
      .record(
        attribute('Attribute name.', ['status']),
        z.union([scalar, z.array(scalar).min(1, { error: 'list at least one value' })]),
      )
      .optional()
      .meta({
        description:
          'Only events whose attributes match count: ' +
          'each listed attribute must equal the value, or one of the values ' +
          'of a list. Numbers and true/false compare as text.',
        examples: [{ status: 'paid' }, { status: ['paid', 'captured'] }],
      }),
  })
  .meta({ description: 'One step of the funnel: an event type, optionally filtered by attributes.' });

export const dimensionSchema = z
  .union([
    attribute('Attribute to slice by, tracking up to the default number of distinct values.', ['platform']),
    z.strictObject({
      name: attribute('Attribute to slice by.', ['payment_provider']),
      max_values: z
        .number()
        .int()
        .min(1)
        .max(1000)
        .default(FUNNEL_DEFAULTS.dimensionMaxValues)
        .meta({
          description: 'Distinct values tracked; values seen after the first max_values are counted as `other`.',
          examples: [15],
        }),
    }),
  ])
  .meta({
    description:
      `An attribute to slice the funnel by: its name, ` +
      `or {name, max_values} to change the cap on distinct values (default ${FUNNEL_DEFAULTS.dimensionMaxValues}).`,
  });

export const retentionSchema = z
  .strictObject({
    fine: duration('How long fine buckets are kept.', ['3d']).default(formatDuration(FUNNEL_DEFAULTS.retention.fineMs)),
    rollup_bucket: duration('Width of the coarser buckets kept for seasonal baselines; must divide a week.', [
      '15m',
    ]).default(formatDuration(FUNNEL_DEFAULTS.retention.rollupBucketMs)),
    rollup: duration('How long the coarser buckets are kept; must cover the weeks of every seasonal baseline.', [
      '35d',
    ]).default(formatDuration(FUNNEL_DEFAULTS.retention.rollupMs)),
  })
  .meta({ description: 'How long history is kept in Redis.' });

export const funnelSchema = z
  .strictObject({
    name: name('funnel', 'Name of the funnel, unique across all rule files.', ['checkout']),
    entity: z
      .string()
      .regex(new RegExp(ENTITY_PATTERN), {
        error: (iss) =>
          `${JSON.stringify(iss.input)} is not an entity field: ` +
          `write "entity" (the event's own entity id) or attrs.<name>`,
      })
      .default('entity')
      .meta({
        description:
          'What moves through the funnel: `entity` (the id the event carries) or `attrs.<name>` (an attribute).',
        examples: ['attrs.checkout_id'],
      }),
    steps: z
      .array(stepSchema)
      .min(2, { error: 'a funnel needs at least two steps: where entities enter and one they should reach' })
      .meta({ description: 'The ordered steps; the first is where entities enter the funnel.' }),
    conversion_window: duration('How long after entering a later step still counts as converting.', ['30m']),
    bucket: duration('Width of the time buckets counts are kept in (event time).', ['1m']).default(
      formatDuration(FUNNEL_DEFAULTS.bucketMs),
    ),
    allowed_lateness: duration('How late an event may arrive and still be counted.', ['5m']).default(
      formatDuration(FUNNEL_DEFAULTS.allowedLatenessMs),
    ),
    dimensions: z
      .array(dimensionSchema)
      .default([])
      .meta({
        description: 'Attributes to slice by; rules can evaluate each value of these separately (`segments`).',
        examples: [['platform', 'region', { name: 'payment_provider', max_values: 15 }]],
      }),
    services: z
      .array(z.string().min(1))
      .default([])
      .meta({
        description: 'Services whose deploys may affect this funnel; their deploy markers are correlated with drops.',
        examples: [['payments-service', 'checkout-web']],
      }),
    retention: retentionSchema.optional(),
  })
  .meta({ description: 'The funnel: the steps entities go through and how its history is kept.' });

const stepRef = (description: string, example: string) =>
  z
    .string()
    .min(1)
    .meta({ description, examples: [example] });

const fromTo = (what: string) =>
  z
    .strictObject({
      from: stepRef('The earlier step.', 'started'),
      to: stepRef('The later step.', 'completed'),
    })
    .meta({ description: what });

export const metricSchema = z
  .strictObject({
    cohort_conversion: fromTo(
      'Of the entities that entered at `from`, the share that reached `to` within the conversion window. ' +
        'Not fooled by traffic surges; the usual choice.',
    ).optional(),
    ratio_conversion: fromTo(
      'Events at `to` divided by events at `from` in the same window. Simpler, but dips whenever traffic surges.',
    ).optional(),
    step_volume: z
      .strictObject({ step: stepRef('The step whose events are counted.', 'started') })
      .meta({ description: 'Events per time bucket at one step (traffic collapsing or spiking).' })
      .optional(),
    step_duration: z
      .strictObject({
        from: stepRef('The earlier step.', 'started'),
        to: stepRef('The later step.', 'completed'),
        percentile: z
          .string({ error: (iss) => (iss.input === undefined ? undefined : explainPercentile(iss.input)) })
          .regex(new RegExp(PERCENTILE_PATTERN), { error: (iss) => explainPercentile(iss.input), abort: true })
          .default(RULE_DEFAULTS.percentile)
          .meta({ description: 'Which percentile of the durations to watch.', examples: ['p95'] }),
      })
      .meta({ description: 'A percentile of the time entities take from one step to a later one.' })
      .optional(),
  })
  .meta({
    description:
      'What the rule watches: exactly one of cohort_conversion, ratio_conversion, step_volume, step_duration.',
    examples: [{ cohort_conversion: { from: 'started', to: 'completed' } }],
    minProperties: 1,
    maxProperties: 1,
  });

export const baselineSchema = z
  .strictObject({
    seasonal: z
      .strictObject({
        weeks: z
          .number()
          .int()
          .min(1)
          .max(12)
          .default(RULE_DEFAULTS.baselineWeeks)
          .meta({ description: 'How many past weeks to compare with.', examples: [4] }),
      })
      .meta({
        description:
          'The same time of the week over the past weeks, robust to one bad week. With less history than asked for, ' +
          'the detector falls back to the history it has and says so in the alert.',
      })
      .optional(),
    trailing: duration('The period just before now.', ['2h']).optional(),
  })
  .meta({
    description: 'What "expected" means: exactly one of seasonal or trailing.',
    examples: [{ seasonal: { weeks: 4 } }, { trailing: '2h' }],
    minProperties: 1,
    maxProperties: 1,
  });

/** A `notify:` list: receiver names, checked against the receivers defined once the whole set is loaded. */
export function receiverList(description: string, example: string[]) {
  return z
    .array(
      z.string().regex(new RegExp(RECEIVER_PATTERN), {
        error: (iss) => `${JSON.stringify(iss.input)} is not a receiver name`,
      }),
    )
    .default([])
    .meta({ description, examples: [example] });
}

export const ruleSchema = z
  .strictObject({
    name: name('rule', 'Name of the rule, unique across all rule files; alerts are identified by it.', [
      'checkout-completion-drop',
    ]),
    description: z
      .string()
      .optional()
      .meta({ description: 'What the rule is about, in a sentence; shown with the alert.' }),
    metric: metricSchema,
    drop: percent(
      'The smallest relative drop that matters: drops this large are caught fast, drops under half of it never page. ' +
        'Use for conversions (and for volume falling).',
      ['5%'],
    ).optional(),
    increase: percent(
      'The smallest relative increase that matters, instead of `drop`: for durations (slower steps) and volume rising.',
      ['30%'],
    ).optional(),
    baseline: baselineSchema.default({ seasonal: { weeks: RULE_DEFAULTS.baselineWeeks } }),
    false_alarms: z
      .string({ error: (iss) => (iss.input === undefined ? undefined : explainRate(iss.input)) })
      .regex(new RegExp(RATE_PATTERN), { error: (iss) => explainRate(iss.input), abort: true })
      .default(RULE_DEFAULTS.falseAlarms)
      .meta({
        description:
          'How many pages a week you accept when nothing is wrong; the detector sets its thresholds from it. ' +
          'Fewer false alarms mean slightly later detection.',
        examples: ['1/week', '2/month'],
      }),
    min_volume: z
      .number()
      .int()
      .min(0)
      .max(1_000_000_000)
      .default(RULE_DEFAULTS.minVolume)
      .meta({
        description:
          'The least data the rule judges on (entries at `from`, events at `step`, or completed durations) in the ' +
          'window the detector looks at. Below it the rule reports "not enough data": it neither fires nor resolves.',
        examples: [200],
      }),
    for: duration('How long the drop must last before the alert fires (pending until then).', ['3m']).default(
      RULE_DEFAULTS.for,
    ),
    resolve_after: duration('How long the metric must be back to normal before the alert resolves.', ['10m']).default(
      RULE_DEFAULTS.resolveAfter,
    ),
    severity: z
      .enum(['critical', 'warning', 'info'])
      .meta({ description: 'critical pages someone; warning and info only notify.', examples: ['critical'] }),
    segments: z
      .array(z.string().min(1))
      .default([])
      .meta({
        description:
          'Dimensions of the funnel whose values are each evaluated too, e.g. a drop for one payment provider.',
        examples: [['payment_provider', 'platform']],
      }),
    where: z
      .record(
        attribute('A dimension of the funnel.', ['platform']),
        z.union([scalar, z.array(scalar).min(1, { error: 'list at least one value' })]),
      )
      .optional()
      .meta({
        description:
          'Watch a slice of the funnel instead of all of it: one of its dimensions and the value, or the values ' +
          'of a list, to keep (the rule then has its own baseline for that slice). One dimension per rule: the ' +
          'windows count each dimension apart, not their combinations.',
        examples: [{ platform: 'android' }, { region: ['eu', 'us'] }],
      }),
    notify: receiverList('Receivers (Slack channels, PagerDuty services) by name.', ['pagerduty-checkout']),
    group_by: groupBy(
      "How this rule's alerts form incidents with others, overriding each receiver's `group_by` for them " +
        '(labels: `funnel`, `rule`, `severity`, `segment`, the segment dimension, the rule labels; ' +
        '`[...]`: every alert an incident of its own).',
    ),
    owner: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Team that owns the rule.', examples: ['payments-team'] }),
    runbook: z
      .url({ error: (iss) => `${JSON.stringify(iss.input)} is not a URL (write it with https://)` })
      .optional()
      .meta({ description: 'Link to what on-call should do.', examples: ['https://example.com/runbooks/checkout'] }),
    labels: z
      .record(
        z.string().regex(new RegExp(LABEL_KEY_PATTERN), {
          error: (iss) => `${JSON.stringify(iss.input)} is not a label name: use letters, digits and _`,
        }),
        scalar,
      )
      .default({})
      .meta({ description: 'Free labels attached to every alert of the rule.', examples: [{ team: 'payments' }] }),
    mix_shift: z
      .enum(['ignore', 'page'])
      .default(RULE_DEFAULTS.mixShift)
      .meta({
        description:
          'Whether a drop caused only by a shift in the traffic mix (no segment converts worse, there are just more ' +
          'low-converting visitors) may page. `ignore` reports it as information.',
      }),
  })
  .meta({ description: 'An alert rule on the funnel.' });

export const gateSchema = z
  .strictObject({
    name: name('gate', 'Name of the gate, unique across all rule files; the API and the CLI call it by this name.', [
      'checkout-canary',
    ]),
    description: z
      .string()
      .optional()
      .meta({ description: 'What the gate protects, in a sentence; shown with its verdicts.' }),
    metric: z
      .strictObject({
        cohort_conversion: fromTo(
          'Of the entities that entered at `from`, the share that reached `to` within the conversion window. ' +
            'Young cohorts are corrected for the conversions still to come.',
        ).optional(),
        ratio_conversion: fromTo('Events at `to` divided by events at `from` in the same minute.').optional(),
      })
      .meta({
        description: 'What the gate compares: exactly one of cohort_conversion or ratio_conversion.',
        examples: [{ cohort_conversion: { from: 'started', to: 'completed' } }],
        minProperties: 1,
        maxProperties: 1,
      }),
    split_by: attribute(
      'The funnel dimension whose values tell the canary from its baseline (the API names the two values).',
      ['app_version'],
    ),
    drop: percent(
      'The smallest relative harm that matters: the gate fails a canary converting this much worse than its ' +
        'baseline, and passes one once harm this large is ruled out.',
      ['5%'],
    ),
    false_fail: percent('How often a canary as good as its baseline may be failed, however often the gate is asked.', [
      '5%',
    ]).default(GATE_DEFAULTS.falseFail),
    power: percent(
      'Chance of catching harm of `drop` or worse: a canary that harmful passes at most 100% − power of the time.',
      ['80%'],
    ).default(GATE_DEFAULTS.power),
    expected_weight: percent(
      "The canary's expected share of the traffic the two versions get. When set, a split that departs from it " +
        'beyond chance (sticky sessions, misrouted traffic) never passes. The API may override it.',
      ['10%'],
    ).optional(),
    warmup: duration('Data this long after the comparison starts is ignored (pods starting, caches cold).', [
      '5m',
    ]).default(GATE_DEFAULTS.warmup),
    max_duration: duration(
      'After this much data (after the warm-up) a gate that could not decide answers `on_timeout`.',
      ['4h'],
    ).default(GATE_DEFAULTS.maxDuration),
    on_timeout: z
      .enum(['inconclusive', 'fail', 'pass'])
      .default(GATE_DEFAULTS.onTimeout)
      .meta({ description: 'The answer after max_duration without a decision.' }),
    on_srm: z.enum(['hold', 'fail']).default(GATE_DEFAULTS.onSrm).meta({
      description:
        'What a sample-ratio mismatch does: `hold` keeps the verdict inconclusive (never pass), `fail` fails.',
    }),
    notify: receiverList('Receivers (Slack, webhook, console) told once of each decided verdict.', ['slack-payments']),
    owner: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Team that owns the gate.', examples: ['payments-team'] }),
  })
  .meta({ description: 'A canary gate: compares two values of a dimension on a conversion, safely every minute.' });

const secretHint = (files: string) =>
  `say where the secret is: { env: VARIABLE_NAME } or { file: /path/to/secret }; secrets are never written in ${files}`;

/** `{ env: NAME }` or `{ file: path }`; `files` names the files the secret must not be written in (for the hint). */
export function secretRef(description: string, example: Record<string, string>, files = 'rule files') {
  return z
    .union(
      [
        z.strictObject({
          env: z
            .string()
            .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
              error: (iss) => `${JSON.stringify(iss.input)} is not an environment variable name`,
            })
            .meta({ description: 'Environment variable holding the secret.' }),
        }),
        z.strictObject({
          file: z.string().min(1).meta({ description: 'File holding the secret (e.g. a Kubernetes secret volume).' }),
        }),
      ],
      { error: () => secretHint(files) },
    )
    .meta({ description, examples: [example] });
}

export const SLACK_CHANNEL_PATTERN = '^(?:#[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{6,20})$';

export const receiverSchema = z
  .strictObject({
    name: z
      .string()
      .regex(new RegExp(RECEIVER_PATTERN), {
        error: (iss) => `${JSON.stringify(iss.input)} is not a receiver name: use letters, digits, -, _ and .`,
      })
      .meta({ description: 'The name rules use in `notify`.', examples: ['slack-payments'] }),
    group_by: groupBy(
      'Alerts with equal values of these labels form one incident: one page, one Slack message. Labels: ' +
        '`funnel`, `rule`, `severity`, `segment`, the segment dimension and the rule labels. ' +
        'Default `[funnel]`; `[...]` makes every alert an incident of its own. A rule may override it.',
    ),
    group_wait: duration('How long a new incident waits for related alerts before its first notification.', [
      '30s',
    ]).optional(),
    group_interval: duration('Least time between two notifications of one incident as its alerts change.', [
      '5m',
    ]).optional(),
    repeat_interval: duration(
      'A still-firing incident with no change is re-announced this often (0s: never). Default FW_REMIND_EVERY_MS.',
      ['4h'],
    ).optional(),
    slack: z
      .strictObject({
        channel: z
          .string()
          .regex(new RegExp(SLACK_CHANNEL_PATTERN), {
            error: (iss) =>
              `${JSON.stringify(iss.input)} is not a Slack channel: write its id (C0123ABCD, safest) or #name`,
          })
          .meta({
            description:
              'Channel id (C0123ABCD; survives renames, and lets a retried post check whether it already went out) ' +
              'or #name. Invite the bot to it.',
            examples: ['C0PAYMENTS1'],
          }),
        token: secretRef(
          'Bot token (xoxb-…) with the chat:write scope, and channels:history ' +
            '(groups:history for a private channel) so that a retried post can check whether it already went out. ' +
            'Default: the environment variable SLACK_BOT_TOKEN.',
          { env: 'SLACK_BOT_TOKEN' },
        ).optional(),
      })
      .optional()
      .meta({
        description: 'Post to a Slack channel: one message per incident, updated in place, replies in its thread.',
      }),
    pagerduty: z
      .strictObject({
        routing_key: secretRef('The 32-character Events API v2 integration key of the PagerDuty service.', {
          env: 'PAGERDUTY_CHECKOUT_KEY',
        }),
        dashboard_url: z
          .url({ error: (iss) => `${JSON.stringify(iss.input)} is not a URL` })
          .optional()
          .meta({
            description: 'A link added to every incident; `{funnel}`, `{rule}` and `{segment}` are filled in.',
            examples: ['https://grafana.example.com/d/funnels?var-funnel={funnel}'],
          }),
      })
      .optional()
      .meta({ description: 'Trigger and resolve PagerDuty incidents (Events API v2), one per rule and segment.' }),
    webhook: z
      .strictObject({
        url: z.url({ error: (iss) => `${JSON.stringify(iss.input)} is not a URL` }).meta({
          description: 'Where each notification is POSTed as JSON.',
          examples: ['https://hooks.example.com/funnelwatch'],
        }),
        secret: secretRef('Key for the `x-funnelwatch-signature` HMAC-SHA256 header. No signature when absent.', {
          env: 'FUNNELWATCH_WEBHOOK_SECRET',
        }).optional(),
      })
      .optional()
      .meta({
        description:
          "POST every notification as JSON to a URL, in Alertmanager's webhook format (version 4), " +
          'with an alert per member of the incident.',
      }),
    alertmanager: z
      .strictObject({
        url: z.url({ error: (iss) => `${JSON.stringify(iss.input)} is not a URL` }).meta({
          description: "The Alertmanager's base URL; alerts are pushed to `<url>/api/v2/alerts`.",
          examples: ['http://alertmanager.monitoring:9093'],
        }),
        external_url: z
          .url({ error: (iss) => `${JSON.stringify(iss.input)} is not a URL` })
          .optional()
          .meta({
            description: "funnelwatch's own URL, for each alert's generatorURL.",
            examples: ['https://funnelwatch.example.com'],
          }),
      })
      .optional()
      .meta({
        description:
          'Push alerts to an existing Prometheus Alertmanager (API v2), re-sent every minute while they fire and ' +
          'with endsAt when they resolve, so its routing and on-call integrations keep working.',
      }),
    console: z
      .strictObject({})
      .optional()
      .meta({
        description:
          "Print one line per notification on the daemon's stdout (trials, the demo). " +
          'A receiver named `console` always exists.',
      }),
  })
  .meta({
    description: 'Where notifications go. Exactly one of `slack`, `pagerduty`, `webhook`, `alertmanager`, `console`.',
  });

export const ruleFileSchema = z
  .strictObject({
    funnel: z
      .union([
        name('funnel', 'Name of a funnel defined in another rule file, to add rules to it.', ['checkout']),
        funnelSchema,
      ])
      .optional()
      .meta({
        description:
          'The funnel this file defines, or the name of a funnel defined in another file. ' +
          'Every file has one, except a file of receivers only.',
      }),
    rules: z.array(ruleSchema).default([]).meta({ description: 'Alert rules on the funnel.' }),
    gates: z
      .array(gateSchema)
      .default([])
      .meta({ description: 'Canary gates on the funnel (Argo Rollouts, Flagger, CI ask them for a verdict).' }),
    receivers: z.array(receiverSchema).optional().meta({
      description:
        'Receivers the rules of every file can notify. Usually kept in one file of their own, `receivers.yaml`.',
    }),
  })
  .meta({
    title: 'funnelwatch rule file',
    description: 'One funnel with its alert rules and canary gates, or receivers. Reference: docs/rule-reference.md',
  });

export type RuleFileInput = z.input<typeof ruleFileSchema>;
export type RuleFileParsed = z.output<typeof ruleFileSchema>;
export type FunnelParsed = z.output<typeof funnelSchema>;
export type RuleParsed = z.output<typeof ruleSchema>;
export type ReceiverParsed = z.output<typeof receiverSchema>;
export type GateParsed = z.output<typeof gateSchema>;
