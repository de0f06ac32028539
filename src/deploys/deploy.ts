/**
 * A deploy marker: "service S went to version V in environment E at time T". Markers arrive through three doors
 * (POST /v1/deploys, a Kafka topic, `funnelwatch deploy`), all validated here, and alerts name the deploys near the
 * onset of a drop (correlate.ts).
 *
 * Pure: no I/O, no clock of its own; `now` is passed in.
 *
 * The id is a hash of (service, version, environment, ts) and nothing else (the three names without case), so the
 * same marker delivered twice (an HTTP retry, a Kafka redelivery, a CI step re-run with the same timestamp, a
 * template that capitalises the environment) is stored once. That only holds when the sender gives `ts`: a marker
 * without one is stamped on arrival (the daemon's clock over HTTP, the message's own timestamp on Kafka, which a
 * redelivery keeps), so a sender that retries over HTTP should send `ts`.
 *
 * Optional text fields sent as "" or null count as absent: CI templates fill in empty variables rather than leave
 * the field out, and refusing the marker for an empty author would lose the deploy for nothing.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { pathText } from '../core/path-text.js';
import { parseTime } from '../core/time-parse.js';
import { didYouMeanSuffix } from '../rules/did-you-mean.js';
import { DURATION_PATTERN, explainDuration, parseDuration } from '../rules/units.js';

export interface Deploy {
  /** deployId(service, version, environment, ts). */
  id: string;
  service: string;
  version: string;
  environment: string;
  /** When the deploy happened (ms since the epoch). */
  ts: number;
  commit?: string;
  author?: string;
  /** A link to the build, the release or the change. */
  url?: string;
  /** Free labels; a name equal to a funnel dimension (`platform`, `payment_provider`) ties the deploy to a segment. */
  attrs?: Record<string, string>;
  /** When funnelwatch first recorded it (ms since the epoch). */
  receivedAt: number;
}

export const DEFAULT_ENVIRONMENT = 'production';

/** How far ahead of the daemon's clock a marker may be: clock skew between CI runners and the daemon, not more. */
export const DEPLOY_FUTURE_TOLERANCE_MS = 5 * 60_000;

/**
 * Limits on one marker: roomy for any real deploy, small enough that a script gone wrong cannot fill Redis or make
 * the once-per-alert correlation read slow.
 */
export const DEPLOY_LIMITS = {
  serviceChars: 128,
  versionChars: 128,
  environmentChars: 64,
  commitChars: 128,
  authorChars: 200,
  urlChars: 2048,
  attrs: 32,
  attrNameChars: 128,
  attrValueChars: 256,
} as const;

export const SERVICE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._/-]*$';
export const ENVIRONMENT_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
/** The names rule files allow for segment dimensions, so an attribute can name one. */
export const ATTR_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_.-]*$';
const SERVICE_RE = new RegExp(SERVICE_PATTERN);
const ENVIRONMENT_RE = new RegExp(ENVIRONMENT_PATTERN);
const ATTR_NAME_RE = new RegExp(ATTR_NAME_PATTERN);
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/**
 * The marker's identity: the same four values give the same id on every replica and in every release. Service,
 * version and environment are compared without case (`Payments-Service` `V2.3.1` is `payments-service` `v2.3.1`:
 * CI templates and people spell them differently); the stored marker keeps the spelling that arrived first. All
 * lower-case values hash as they did before case was folded, so ids recorded by earlier releases stay valid.
 */
export function deployId(service: string, version: string, environment: string, ts: number): string {
  const fold = (s: string) => s.toLowerCase();
  return createHash('sha256')
    .update(JSON.stringify([fold(service), fold(version), fold(environment), ts]))
    .digest('hex')
    .slice(0, 24);
}

// ---------------------------------------------------------------------------------------------------------------
// Validation (POST /v1/deploys, the Kafka topic, the CLI)

/** "" and null are "not given" for optional fields (see the module header). */
const blankToUndefined = (v: unknown): unknown =>
  v === null || (typeof v === 'string' && v.trim() === '') ? undefined : v;

const text = (what: string, max: number) =>
  z.preprocess(
    (v, ctx) => {
      // Checked first: zod's length checks would otherwise also judge an array and add "required" to "must be a
      // string".
      if (v === undefined || typeof v === 'string') return v;
      ctx.addIssue({ code: 'custom', message: `must be a string (${what})`, input: v });
      return z.NEVER;
    },
    z
      .string({ error: () => `required: ${what}` })
      .trim()
      .min(1, { error: () => `required: ${what}`, abort: true })
      .max(max, { error: () => `is longer than ${max} characters`, abort: true })
      .refine((s) => !CONTROL_RE.test(s), {
        error: () => 'must not contain control characters (line breaks, tabs)',
        abort: true,
      }),
  );

const serviceField = text('the deployed service, e.g. payments-service', DEPLOY_LIMITS.serviceChars).refine(
  (s) => SERVICE_RE.test(s),
  {
    error: (iss) =>
      `"${String(iss.input)}" is not a service name: letters, digits, ., _, - and /, starting with a letter or digit`,
  },
);

const versionField = z.preprocess(
  (v, ctx) => {
    // 2.10 sent as a JSON number arrives as 2.1; refusing it beats recording the wrong version.
    if (typeof v === 'number') {
      ctx.addIssue({
        code: 'custom',
        message: `must be a string: quote it ("${v}"); as a number, 2.10 would read 2.1`,
        input: v,
      });
      return z.NEVER;
    }
    return v;
  },
  text('the version deployed, e.g. v2.3.1 or a build number', DEPLOY_LIMITS.versionChars),
);

const environmentField = z.preprocess(
  blankToUndefined,
  text('e.g. production', DEPLOY_LIMITS.environmentChars)
    .refine((s) => ENVIRONMENT_RE.test(s), {
      error: (iss) =>
        `"${String(iss.input)}" is not an environment name: letters, digits, ., _ and -, e.g. production or staging`,
    })
    .optional(),
);

const optionalText = (what: string, max: number) => z.preprocess(blankToUndefined, text(what, max).optional());

const commitField = z.preprocess(
  blankToUndefined,
  text('e.g. a git sha', DEPLOY_LIMITS.commitChars)
    .refine((s) => !/\s/.test(s), { error: () => 'must not contain spaces (a commit id such as 3f9c2ab)' })
    .optional(),
);

const URL_HELP = 'give an http(s) link, e.g. https://ci.example.com/builds/220';
const urlField = z.preprocess(
  blankToUndefined,
  z
    .string({ error: () => `not a URL: ${URL_HELP}` })
    .trim()
    .max(DEPLOY_LIMITS.urlChars, { error: () => `is longer than ${DEPLOY_LIMITS.urlChars} characters`, abort: true })
    .refine(isHttpUrl, { error: (iss) => `not a URL: ${JSON.stringify(iss.input)}; ${URL_HELP}` })
    .optional(),
);

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

const TIME_HINT = 'ISO 8601 with a zone, e.g. 2025-01-06T14:00:00Z, or milliseconds since the epoch';

/**
 * A time as ISO text with a zone or whole ms, ms also as a digit string (shell scripts and Kafka producers send
 * those).
 */
const tsField = z
  .unknown()
  .transform((input, ctx): number | undefined => {
    const v = blankToUndefined(input);
    if (v === undefined) return undefined;
    const raw = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v.trim()) : v;
    if (typeof raw === 'number' && raw >= 1e9 && raw < 1e11) {
      // 1e9..1e11 ms is January 1970; as seconds it is 2001..5138: almost certainly `date +%s`.
      ctx.addIssue({
        code: 'custom',
        message:
          `not a time: ${raw} looks like seconds since the epoch; ` +
          `send milliseconds (${raw * 1000}) or ${TIME_HINT}`,
        input: v,
      });
      return z.NEVER;
    }
    const r = parseTime(raw);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: `not a time (${TIME_HINT}): got ${JSON.stringify(v)}`, input: v });
      return z.NEVER;
    }
    return r.ms;
  })
  .optional();

const ATTRS_HELP = 'must be an object of name → value, e.g. {"platform": "android"}';

/** Every problem of every attribute at once, each under its own path (`attrs.platform`). */
const attrsField = z
  .unknown()
  .transform((v, ctx): Record<string, string> | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) {
      ctx.addIssue({ code: 'custom', message: ATTRS_HELP, input: v });
      return z.NEVER;
    }
    const entries = Object.entries(v as Record<string, unknown>);
    let bad = false;
    const problem = (message: string, path: string[] = []) => {
      ctx.addIssue({ code: 'custom', message, path, input: v });
      bad = true;
    };
    if (entries.length > DEPLOY_LIMITS.attrs)
      problem(`holds ${entries.length} attributes; at most ${DEPLOY_LIMITS.attrs}`);
    const out: Record<string, string> = {};
    for (const [name, raw] of entries) {
      if (!ATTR_NAME_RE.test(name) || name.length > DEPLOY_LIMITS.attrNameChars) {
        problem(
          `"${name}" is not an attribute name: ` +
            `start with a letter or _, then letters, digits, _, . and - (at most ${DEPLOY_LIMITS.attrNameChars})`,
          [name],
        );
        continue;
      }
      if (typeof raw !== 'string' && typeof raw !== 'boolean' && !(typeof raw === 'number' && Number.isFinite(raw))) {
        problem('must be a string, number or boolean', [name]);
        continue;
      }
      const value = String(raw).trim();
      if (value.length > DEPLOY_LIMITS.attrValueChars)
        problem(`is longer than ${DEPLOY_LIMITS.attrValueChars} characters`, [name]);
      else if (CONTROL_RE.test(value)) problem('must not contain control characters (line breaks, tabs)', [name]);
      else out[name] = value;
    }
    return bad ? z.NEVER : out;
  })
  .optional();

export const DEPLOY_FIELDS = ['service', 'version', 'environment', 'ts', 'commit', 'author', 'url', 'attrs'] as const;

/** Names senders reach for that mean one of ours. */
const ALIASES: Record<string, string> = {
  timestamp: 'ts',
  time: 'ts',
  deployed_at: 'ts',
  deployedAt: 'ts',
  env: 'environment',
  sha: 'commit',
  revision: 'commit',
  link: 'url',
  href: 'url',
  labels: 'attrs',
  tags: 'attrs',
  attributes: 'attrs',
  user: 'author',
  app: 'service',
  application: 'service',
};

const DEPLOY_BODY = z.strictObject(
  {
    service: serviceField,
    version: versionField,
    environment: environmentField,
    ts: tsField,
    commit: commitField,
    author: optionalText('who deployed', DEPLOY_LIMITS.authorChars),
    url: urlField,
    attrs: attrsField,
  },
  {
    error: () =>
      'the body must be a JSON object with service and version, ' +
      'and optionally environment, ts, commit, author, url and attrs',
  },
);

export type DeployValidation = { ok: true; value: Deploy } | { ok: false; problems: string[] };

export interface DeployValidationOptions {
  /** The `ts` of a marker that has none; default `now`. The Kafka consumer passes the message timestamp. */
  defaultTs?: number;
  /** Refuse markers older than this (the store's retention: they would be dropped at once). */
  maxAgeMs?: number;
}

/**
 * Checks a marker and makes it a Deploy (id computed, `receivedAt` = now). Every problem names its field
 * (`ts: …`, `attrs.platform: …`), so one answer tells the sender everything to fix.
 */
export function validateDeployInput(body: unknown, now: number, opts: DeployValidationOptions = {}): DeployValidation {
  const parsed = DEPLOY_BODY.safeParse(body);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.flatMap(issueProblems) };
  const b = parsed.data;
  const ts = b.ts ?? opts.defaultTs ?? now;
  const problems: string[] = [];
  if (ts > now + DEPLOY_FUTURE_TOLERANCE_MS) {
    problems.push(
      `ts: more than 5 minutes in the future (${new Date(ts).toISOString()}; ` +
        `the daemon's time is ${new Date(now).toISOString()}): ` +
        "check the sender's clock and time zone",
    );
  }
  if (opts.maxAgeMs !== undefined && ts < now - opts.maxAgeMs) {
    problems.push(
      `ts: ${new Date(ts).toISOString()} is older than the deploy retention ` +
        `(${Math.round((opts.maxAgeMs / 86_400_000) * 10) / 10} days): ` +
        'it would be dropped at once',
    );
  }
  if (problems.length > 0) return { ok: false, problems };

  const environment = b.environment ?? DEFAULT_ENVIRONMENT;
  const attrs = b.attrs !== undefined && Object.keys(b.attrs).length > 0 ? sortedRecord(b.attrs) : undefined;
  const deploy: Deploy = {
    id: deployId(b.service, b.version, environment, ts),
    service: b.service,
    version: b.version,
    environment,
    ts,
    ...(b.commit !== undefined ? { commit: b.commit } : {}),
    ...(b.author !== undefined ? { author: b.author } : {}),
    ...(b.url !== undefined ? { url: b.url } : {}),
    ...(attrs ? { attrs } : {}),
    receivedAt: now,
  };
  return { ok: true, value: deploy };
}

/** Keys in a fixed order, so equal attributes print and serialise the same whatever order they were sent in. */
function sortedRecord(r: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(r).sort()) out[k] = r[k]!;
  return out;
}

type Issue = z.core.$ZodIssue;

function issueProblems(issue: Issue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => {
      const where = pathText([...issue.path, k]);
      if (k === 'id' || k === 'receivedAt' || k === 'duplicate') return `${where}: set by funnelwatch; leave it out`;
      const alias = ALIASES[k];
      return `${where}: unknown field${alias ? ` (did you mean "${alias}"?)` : didYouMeanSuffix(k, DEPLOY_FIELDS)}`;
    });
  }
  const where = pathText(issue.path);
  return [where ? `${where}: ${issue.message}` : issue.message];
}

// ---------------------------------------------------------------------------------------------------------------
// Query times (GET /v1/deploys, funnelwatch deploys list)

const DURATION_RE = new RegExp(DURATION_PATTERN);
const WHEN_HELP =
  'give an ISO 8601 time with a zone (2025-01-06T14:00:00Z), ' +
  'milliseconds since the epoch, or a duration back from now (24h, 7d)';

/**
 * A query time as people type it: a duration back from `now` (`24h`), whole ms, or ISO 8601 with a zone. Shared
 * with the CLI, which checks `--since` before asking the daemon.
 */
export function parseWhen(value: string, now: number): { ok: true; ms: number } | { ok: false; message: string } {
  const v = value.trim();
  if (/^\d+$/.test(v)) return { ok: true, ms: Number(v) };
  if (DURATION_RE.test(v)) return { ok: true, ms: now - parseDuration(v) };
  const t = parseTime(v);
  if (t.ok) return t;
  // A near-miss duration ("24 hours") gets the duration's own suggestion.
  const why = /^\d/.test(v) && !/^\d{4}-/.test(v) ? explainDuration(v) : undefined;
  return { ok: false, message: why ?? `"${value}" is not a time: ${WHEN_HELP}` };
}

// ---------------------------------------------------------------------------------------------------------------
// Stored markers

/**
 * A stored marker read back, checked field by field (entries written by another release or by hand must not crash
 * a read); undefined when it is not a Deploy.
 */
export function parseStoredDeploy(json: string): Deploy | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const d = v as Record<string, unknown>;
  const str = (x: unknown): x is string => typeof x === 'string' && x !== '';
  const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  if (!str(d.id) || !str(d.service) || !str(d.version) || !str(d.environment) || !num(d.ts) || !num(d.receivedAt))
    return undefined;
  const opt: Partial<Pick<Deploy, 'commit' | 'author' | 'url' | 'attrs'>> = {};
  for (const k of ['commit', 'author', 'url'] as const) {
    const x = d[k];
    if (x === undefined) continue;
    if (!str(x)) return undefined;
    opt[k] = x;
  }
  if (d.attrs !== undefined) {
    if (!d.attrs || typeof d.attrs !== 'object' || Array.isArray(d.attrs)) return undefined;
    const attrs: Record<string, string> = {};
    for (const [k, x] of Object.entries(d.attrs as Record<string, unknown>)) {
      if (typeof x !== 'string') return undefined;
      attrs[k] = x;
    }
    opt.attrs = attrs;
  }
  return {
    id: d.id,
    service: d.service,
    version: d.version,
    environment: d.environment,
    ts: d.ts,
    ...opt,
    receivedAt: d.receivedAt,
  };
}
