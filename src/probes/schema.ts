/**
 * The shape of a journey file (one canary-user journey per file under `probes/`), once, in zod: the loader validates
 * with it and `probes/schema.json` is generated from it, like the rule files. Declarative for the same reason as
 * rules/schema.ts (the editor must accept exactly what `funnelwatch probe` accepts); what relates fields to each
 * other (templates naming a secret or an extracted value, a base URL for the environment) is checked in load.ts.
 */
import { z } from 'zod';
import { duration, name, receiverList, secretRef } from '../rules/schema.js';

export const JOURNEY_DEFAULTS = { timeout: '10s', method: 'GET' } as const;
/** The probe alert every journey has unless its `alert:` says otherwise: 2 failed of the last 3 runs, critical. */
export const PROBE_ALERT_DEFAULTS = { failures: 2, of: 3, severity: 'critical', slowRuns: 3 } as const;

const VAR_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,63}$';
/** `$`, `$.a.b`, `$.items[0].id`, `$['odd key']`: the JSONPath subset that names one value. */
export const JSON_PATH_PATTERN = "^\\$(?:\\.[A-Za-z_][A-Za-z0-9_-]*|\\[\\d+\\]|\\['[^']+'\\])*$";

function jsonPath(description: string) {
  return z
    .string()
    .regex(new RegExp(JSON_PATH_PATTERN), {
      error: (iss) =>
        `${JSON.stringify(iss.input)} is not a JSON path: write $.field.sub, $.items[0].id or $['odd key']`,
    })
    .meta({ description, examples: ['$.order.id'] });
}

const secretSchema = secretRef(
  'Where a secret is read from, at each run.',
  { env: 'SHOP_PROBE_PASSWORD' },
  'journey files',
);

const extractSchema = z
  .union([
    z.strictObject({ json: jsonPath('Where in the JSON answer the value is.') }),
    z.strictObject({
      header: z
        .string()
        .min(1)
        .meta({ description: 'The answer header holding the value.', examples: ['location'] }),
    }),
  ])
  .meta({ description: 'A value taken from the answer, for later steps as {{ vars.<name> }}.' });

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const statusSchema = z
  .union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599)).min(1)])
  .meta({ description: 'The status expected: one code, or a list of codes. Default: any 2xx.', examples: [201] });

const expectSchema = z
  .strictObject({
    status: statusSchema.optional(),
    body: z
      .record(z.string().regex(new RegExp(JSON_PATH_PATTERN)), scalar)
      .meta({
        description: 'Values the JSON answer must hold: JSON path → expected value (compared as text).',
        examples: [{ '$.status': 'paid' }],
      })
      .optional(),
    latency: duration('The step fails when its answer takes longer than this.', ['2s']).optional(),
  })
  .meta({ description: 'What the answer must be for the step to pass.' });

export const httpStepSchema = z
  .strictObject({
    name: name('step', 'The step, as failures and logs name it.', ['pay']),
    event: z
      .string()
      .min(1)
      .max(256)
      .meta({
        description:
          'The funnel step this HTTP step stands for: the event type emitted (synthetic) when the step passes.',
        examples: ['payment_submitted'],
      })
      .optional(),
    method: z
      .enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'])
      .meta({ description: 'HTTP method.' })
      .default(JOURNEY_DEFAULTS.method),
    url: z
      .string()
      .min(1)
      .meta({
        description: 'A path resolved against the base URL of the environment, or an absolute URL; templated.',
        examples: ['/api/cart/{{ vars.cart_id }}/checkout'],
      }),
    headers: z
      .record(z.string().min(1), z.string())
      .meta({
        description: 'Request headers; values templated.',
        examples: [{ authorization: 'Bearer {{ secrets.token }}' }],
      })
      .optional(),
    body: z
      .unknown()
      .meta({
        description: 'The request body: a mapping or list is sent as JSON, text as it is; every text templated.',
      })
      .optional(),
    extract: z.record(z.string().regex(new RegExp(VAR_PATTERN)), extractSchema).optional(),
    expect: expectSchema.optional(),
    timeout: duration('How long the step may take; default: the journey timeout.', ['5s']).optional(),
  })
  .meta({ description: 'One HTTP request of the journey.' });

const probeAlertSchema = z
  .strictObject({
    failures: z
      .number()
      .int()
      .min(1)
      .max(50)
      .default(PROBE_ALERT_DEFAULTS.failures)
      .meta({ description: 'K: the alert fires when K of the last N runs (`of`) at one location failed.' }),
    of: z
      .number()
      .int()
      .min(1)
      .max(50)
      .default(PROBE_ALERT_DEFAULTS.of)
      .meta({ description: 'N: how many of the latest runs per location are looked at.' }),
    slow: z
      .strictObject({
        step: z.string().min(1).meta({ description: 'The step (its `name`) whose latency is watched.' }),
        over: duration('The step counts as slow above this latency.', ['3s']),
        runs: z
          .number()
          .int()
          .min(1)
          .max(50)
          .default(PROBE_ALERT_DEFAULTS.slowRuns)
          .meta({ description: 'M: the alert fires when the step was slow in each of the last M runs.' }),
      })
      .meta({ description: 'Also fire when one step is slower than a threshold for M runs in a row.' })
      .optional(),
    severity: z
      .enum(['critical', 'warning', 'info'])
      .default(PROBE_ALERT_DEFAULTS.severity)
      .meta({ description: 'critical pages someone; warning and info only notify.' }),
    notify: receiverList('Receivers (defined in the rule files) paged when the journey fails.', ['pagerduty-checkout']),
    runbook: z.string().min(1).optional().meta({ description: 'A link or text for whoever is paged.' }),
    enabled: z.boolean().default(true).meta({ description: 'false: the journey runs and reports, but never alerts.' }),
  })
  .meta({
    description:
      'The probe alert of this journey, evaluated per location: failures K of the last N runs (default 2 of 3), ' +
      'or a step slow for M runs.',
  });

export const journeyFileSchema = z
  .strictObject({
    name: name('journey', 'The journey, unique across probe files.', ['checkout-test-card']),
    description: z.string().optional(),
    funnel: name('funnel', 'The funnel the journey exercises.', ['checkout']),
    every: duration('How often the journey runs (each run starts up to 10 % of this later, as jitter).', ['1m']),
    timeout: duration('How long one HTTP step may take unless it says otherwise.', ['10s']).default(
      JOURNEY_DEFAULTS.timeout,
    ),
    base_url: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/), z.url({ protocol: /^https?$/ })).meta({
      description: 'Base URL per environment; `funnelwatch probe --environment` picks one (default production).',
      examples: [{ production: 'https://shop.example.com', staging: 'https://staging.shop.example.com' }],
    }),
    location: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/)
      .meta({
        description: 'Where the journey runs from, as events and logs label it; `--location` overrides it.',
        examples: ['eu-west-1'],
      })
      .optional(),
    email_domain: z
      .string()
      .regex(/^[a-z0-9.-]+\.[a-z]{2,}$/)
      .meta({ description: 'Domain of {{ unique_email }} addresses.', examples: ['probes.example.com'] })
      .default('example.com'),
    secrets: z.record(z.string().regex(new RegExp(VAR_PATTERN)), secretSchema).optional(),
    alert: probeAlertSchema.optional(),
    steps: z
      .array(httpStepSchema)
      .min(1)
      .meta({ description: 'The HTTP steps, run in order; the first failure ends the run.' }),
  })
  .meta({
    title: 'funnelwatch journey file',
    description: 'A canary-user journey: scripted HTTP steps on a schedule.',
  });

export type JourneyParsed = z.output<typeof journeyFileSchema>;
export type HttpStepParsed = z.output<typeof httpStepSchema>;

/** The committed editor schema: `probes/schema.json`. */
export function renderJourneyJsonSchema(): string {
  const schema = z.toJSONSchema(journeyFileSchema, { target: 'draft-07', io: 'input', unrepresentable: 'any' });
  return `${JSON.stringify(schema, null, 2)}\n`;
}
