/**
 * Configuration from FW_* environment variables, optionally from a YAML/JSON file named by FW_CONFIG_FILE
 * (keys are the same variable names, or the same names in lower case without the prefix: `redis_url`).
 * The environment wins over the file. Validated once at start; anything wrong stops the daemon with exit code 2
 * and a message naming the variable and what it expected (see ConfigError).
 *
 * The spec table below is the single source for validation, defaults and the README's configuration reference
 * (`funnelwatch config --markdown`).
 */
import cron from 'node-cron';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FwError } from '../core/errors.js';

interface VarSpec {
  schema: z.ZodType;
  default?: string;
  doc: string;
  secret?: boolean;
}

const durationMs = z.string().regex(/^\d+$/, 'a whole number of milliseconds').transform(Number);
// http(s) only: a receiver base URL with another scheme (ftp:, file:, a typo like htps:) fails at the first page.
const httpUrl = (example: string) =>
  z.string().refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, `an http:// or https:// URL such as ${example}`);
// Checked at start, with the library that will run it: a bad expression used to surface only when node-cron threw.
const cronExpression = z
  .string()
  .refine(
    (s) => cron.validate(s),
    'a node-cron expression with seconds: second minute hour day-of-month month day-of-week, e.g. 5 * * * * *',
  );
const port = z
  .string()
  .regex(/^\d+$/, 'a port number')
  .transform(Number)
  .refine((n) => n >= 0 && n <= 65535, 'a port number 0..65535');
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);
const isRedisUrl = (s: string): boolean => {
  try {
    const u = new URL(s);
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
  } catch {
    return false;
  }
};
// One URL, or (Redis Cluster) a comma-separated list of node URLs; each is checked. Only FW_REDIS_CLUSTER=true
// accepts a list: loadConfig checks the pair.
const redisUrl = z.string().refine((s) => {
  const xs = s.split(',').map((x) => x.trim());
  return xs.length > 0 && xs.every(isRedisUrl);
}, 'a redis:// or rediss:// URL such as redis://127.0.0.1:6379/0 (a Redis Cluster: any node, or node URLs separated by commas)');
const hostPortList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .refine(
    (xs) => xs.every((x) => /^[A-Za-z0-9._-]+:\d+$/.test(x) || /^\[[0-9a-fA-F:]+\]:\d+$/.test(x)),
    'a comma-separated list of host:port (e.g. kafka-1:9092,kafka-2:9092), or empty for no Kafka',
  );

export const CONFIG_SPEC = {
  FW_REDIS_URL: {
    schema: redisUrl,
    default: 'redis://127.0.0.1:6379',
    doc: 'Redis holding windows, alert state, outbox and leases.',
  },
  FW_REDIS_CLUSTER: {
    schema: bool,
    default: 'false',
    doc:
      'Redis is a Redis Cluster: FW_REDIS_URL names any of its nodes, ' +
      'or several separated by commas (same credentials; no database number).',
  },
  FW_REDIS_COMMAND_TIMEOUT_MS: {
    schema: durationMs.refine((n) => n > 0, 'a positive number of milliseconds'),
    default: '2000',
    doc:
      'A Redis command not answered within this time fails (a stalled Redis): API requests answer 503 with ' +
      'Retry-After and /readyz turns false instead of waiting.',
  },
  FW_REDIS_PREFIX: {
    schema: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - (no braces: hash tags are added per funnel)'),
    default: 'fw',
    doc: 'Prefix of every Redis key.',
  },
  FW_KAFKA_BROKERS: {
    schema: hostPortList,
    default: '',
    doc: 'Kafka bootstrap brokers, comma-separated. Empty: no Kafka; HTTP ingest applies events directly to Redis.',
  },
  FW_KAFKA_TOPICS: {
    schema: list.refine((xs) => xs.length > 0, 'at least one topic'),
    default: 'funnel-events',
    doc: 'Topics to consume events from, comma-separated.',
  },
  FW_KAFKA_GROUP: {
    schema: z.string().min(1),
    default: 'funnelwatch',
    doc: 'Kafka consumer group id shared by all replicas.',
  },
  FW_KAFKA_CLIENT_ID: {
    schema: z.string().min(1),
    default: 'funnelwatch',
    doc: 'Kafka client id (shows in broker logs and quotas).',
  },
  FW_KAFKA_DLQ_TOPIC: {
    schema: z.string().min(1),
    default: 'funnel-events.dlq',
    doc: 'Dead-letter topic for events that cannot be parsed or validated.',
  },
  FW_KAFKA_FROM_BEGINNING: {
    schema: bool,
    default: 'false',
    doc: 'A new consumer group starts at the oldest retained offset instead of the newest.',
  },
  FW_KAFKA_SESSION_TIMEOUT_MS: {
    schema: durationMs,
    default: '30000',
    doc: 'Consumer group session timeout: how long a replica that died without leaving keeps its partitions.',
  },
  FW_KAFKA_MAX_WAIT_MS: {
    schema: durationMs,
    default: '500',
    doc:
      'Longest a fetch waits at the broker for new data when the partitions are caught up ' +
      "(Kafka's fetch.max.wait.ms; kafkajs defaults to 5 s). A real broker answers as soon as data arrives; " +
      'a broker that holds an empty fetch for the whole wait ' +
      "(librdkafka's mock cluster, used by the tests and the demo) " +
      'delays the first new data after a quiet spell by up to this much.',
  },
  FW_RULES_DIR: {
    schema: z.string().min(1),
    default: './rules',
    doc: 'Directory of funnel and rule YAML files (hot-reloaded).',
  },
  FW_PROBES_DIR: {
    schema: z.string(),
    default: '',
    doc:
      'Directory of canary-user journey files (hot-reloaded): the daemon runs them on their schedule (on the ' +
      'evaluation lease holder), feeds their events into its ingest path and alerts on their failures. Empty: none.',
  },
  FW_PROBES_LOCATION: {
    schema: z.string().regex(/^$|^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a location label, e.g. eu-west-1'),
    default: '',
    doc: "The location label of the daemon's probe runs; empty: each journey's own `location` (else `default`).",
  },
  FW_PROBES_ENVIRONMENT: {
    schema: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'a base_url entry name, e.g. production'),
    default: 'production',
    doc: "Which `base_url` entry of the journey files the daemon's probe runs use.",
  },
  FW_HTTP_HOST: {
    schema: z.string().min(1),
    default: '127.0.0.1',
    doc:
      'Address the HTTP server binds to. The default serves this host only; `0.0.0.0` (all interfaces, as in ' +
      'a container) needs FW_INGEST_TOKEN or FW_AUTH=none.',
  },
  FW_HTTP_PORT: {
    schema: port,
    default: '8080',
    doc: 'Port of the HTTP server (health, metrics, ingest, API). 0 picks a free port.',
  },
  FW_EVENT_FIELDS: {
    schema: z.string().transform((s, ctx) => {
      const out: Record<string, string> = {};
      for (const pair of s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)) {
        const m = /^(id|type|ts|entity|attrs)=([A-Za-z0-9_.$@-]+)$/.exec(pair);
        if (!m) {
          ctx.addIssue({
            code: 'custom',
            message:
              `pairs like type=event_name,ts=occurred_at ` +
              `(fields: id, type, ts, entity, attrs); "${pair}" is not one`,
          });
          return z.NEVER;
        }
        out[m[1]!] = m[2]!;
      }
      return out;
    }),
    default: '',
    doc:
      'Field names of the native event envelope when your producers use other names, ' +
      'e.g. `type=event_name,ts=occurred_at,entity=checkout_id,attrs=properties`. ' +
      'Segment and CloudEvents envelopes are recognised as they are.',
  },
  FW_EVENT_MAX_FUTURE_MS: {
    schema: durationMs,
    default: '300000',
    doc: 'Events whose time is further ahead of the clock than this are dead-lettered (`future_timestamp`).',
  },
  FW_EVENT_MAX_AGE_MS: {
    schema: durationMs,
    default: '3024000000',
    doc:
      'Events older than this (default 35 days, the longest default history) are rejected (`too_old`) instead ' +
      'of being accepted and then dropped as late.',
  },
  FW_EVENT_MAX_BYTES: {
    schema: z.string().regex(/^\d+$/, 'a number of bytes').transform(Number),
    default: '65536',
    doc: 'Largest event accepted; larger ones are dead-lettered (`oversized`).',
  },
  FW_INGEST_TOKEN: {
    schema: z.string(),
    default: '',
    doc:
      'Bearer token every API route needs (`/v1/events`, `/v1/silences`, `/v1/deploys`, `/v1/alerts`). ' +
      'Empty: allowed only when FW_HTTP_HOST is a loopback address (the API is then open to local processes) ' +
      'or with FW_AUTH=none; otherwise the daemon refuses to start.',
    secret: true,
  },
  FW_AUTH: {
    schema: z.enum(['token', 'none'], { error: '`token` or `none`' }),
    default: 'token',
    doc:
      '`token`: the API needs FW_INGEST_TOKEN (see there). `none`: no token on any address, for a daemon ' +
      'behind something that authenticates; the daemon warns at start and on /readyz.',
  },
  FW_DASHBOARD_PUBLIC: {
    schema: bool,
    default: 'false',
    doc:
      'The web dashboard at `/` is readable without the token (behind a company proxy that authenticates). ' +
      'Creating or expiring a silence still needs a login with the token.',
  },
  FW_DASHBOARD_COOKIE_SECURE: {
    schema: z.enum(['auto', 'true', 'false'], { error: '`auto`, `true` or `false`' }),
    default: 'auto',
    doc:
      "Whether the dashboard's login cookie is marked Secure (sent over HTTPS only). `auto`: when the login " +
      'request came over TLS or through a proxy that says so (`X-Forwarded-Proto: https`).',
  },
  FW_INGEST_MAX_BYTES: {
    schema: z.string().regex(/^\d+$/, 'a number of bytes').transform(Number),
    default: '5242880',
    doc: 'Largest HTTP request body accepted; larger ones get 413.',
  },
  FW_INSTANCE_ID: {
    schema: z.string().regex(/^[A-Za-z0-9_.-]{0,64}$/, 'up to 64 letters, digits, _ . -'),
    default: '',
    doc:
      'Name of this replica (default: the host name plus a random suffix, new at each start). Held by a lease in ' +
      'Redis: a second live daemon with the same id refuses to start. Direct HTTP ingest without Kafka records ' +
      'its progress under it (set it to keep one stream across restarts).',
  },
  FW_TICK_SCHEDULE: {
    schema: cronExpression,
    default: '5 * * * * *',
    doc:
      'When the once-a-minute tasks (compaction, evaluation) run, as a node-cron expression with seconds; ' +
      'the default runs 5 s past each minute so the minute that just ended has arrived.',
  },
  FW_LEASE_TTL_MS: {
    schema: durationMs,
    default: '30000',
    doc:
      'Evaluation lease: one replica evaluates; ' +
      'if it dies, another takes over within this time (renewed every third of it).',
  },
  FW_EVAL_SHARDING: {
    schema: z.enum(['off', 'funnel'], { error: '`off` or `funnel`' }),
    default: 'off',
    doc:
      '`funnel`: evaluation is spread over the replicas, one shard per funnel (funnels whose incidents a ' +
      "receiver's `group_by` groups together share one), each held through a lease of its own (within " +
      '`FW_LEASE_TTL_MS` of a replica leaving or dying, its shards move). `off`: the replica holding the one lease ' +
      'evaluates every rule. Set the same value on every replica: a sharded replica stands by while an unsharded ' +
      'one holds the lease.',
  },
  FW_STALE_AFTER_MS: {
    schema: durationMs,
    default: '300000',
    doc:
      'A funnel whose newest event time stood still this long while traffic was expected is `data_stale`; ' +
      'its rules are held.',
  },
  FW_EVAL_MAX_SEGMENT_VALUES: {
    schema: z.string().regex(/^\d+$/, 'a whole number').transform(Number),
    default: '40',
    doc: 'Values evaluated per segment dimension of a rule (the ones with most traffic).',
  },
  FW_SLACK_API_URL: {
    schema: httpUrl('https://slack.com/api/'),
    default: 'https://slack.com/api/',
    doc: 'Slack Web API base URL (a proxy, or a fake in tests).',
  },
  FW_PAGERDUTY_URL: {
    schema: httpUrl('https://events.pagerduty.com'),
    default: 'https://events.pagerduty.com',
    doc: 'PagerDuty Events API v2 base URL (events go to `<url>/v2/enqueue`; use https://events.eu.pagerduty.com for EU accounts).',
  },
  FW_DELIVERY_TIMEOUT_MS: {
    schema: durationMs,
    default: '10000',
    doc: 'Longest one delivery attempt (Slack, PagerDuty, webhook request) may take; a timeout is retried.',
  },
  FW_DELIVERY_BACKOFF_MS: {
    schema: durationMs,
    default: '5000',
    doc:
      'First retry delay of a failed delivery; it doubles per attempt (with jitter) ' +
      'up to FW_DELIVERY_BACKOFF_MAX_MS, and is never shorter than the Retry-After the receiver asked for.',
  },
  FW_DELIVERY_BACKOFF_MAX_MS: {
    schema: durationMs,
    default: '300000',
    doc: 'Longest delay between two attempts of a delivery.',
  },
  FW_DELIVERY_GIVE_UP_MS: {
    schema: durationMs,
    default: '21600000',
    doc:
      'A trigger, update or reminder still failing this long after the alert decided it is given up: ' +
      "logged, counted and announced on the alert's other receivers (a self-alert, resolved when the receiver " +
      'delivers again). Resolves are never given up while their receiver is configured.',
  },
  FW_DELIVERY_CLAIM_IDLE_MS: {
    schema: durationMs,
    default: '60000',
    doc:
      'A delivery job held this long by a replica that stopped (crash, kill) is taken over by another; ' +
      'keep it above FW_DELIVERY_TIMEOUT_MS.',
  },
  FW_REMIND_EVERY_MS: {
    schema: durationMs,
    default: '14400000',
    doc: 'A still-firing alert is re-announced in its Slack thread this often (not a new page); 0 turns reminders off.',
  },
  FW_KAFKA_DEPLOY_TOPIC: {
    schema: z.string(),
    default: '',
    doc:
      'Kafka topic of deploy markers (JSON like POST /v1/deploys), ' +
      'read by the consumer group `<FW_KAFKA_GROUP>-deploys`. ' +
      'Empty: markers come only through the API and `funnelwatch deploy`.',
  },
  FW_DEPLOY_RETENTION_MS: {
    schema: durationMs,
    default: '2592000000',
    doc: 'How long deploy markers are kept (default 30 days).',
  },
  FW_ENVIRONMENT: {
    schema: z
      .string()
      .regex(/^$|^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'an environment name: letters, digits, ., _ and -, e.g. production'),
    default: 'production',
    doc:
      'The environment whose traffic this daemon watches, ' +
      'as deploy markers name it (a marker without `environment` is `production`). ' +
      "Deploys to other environments weigh a tenth when naming a drop's likely cause, and say so. " +
      'Empty: every environment weighs the same.',
  },
  FW_DEPLOY_LOOKBACK_MS: {
    schema: durationMs,
    default: '7200000',
    doc: "How far before a drop's onset a deploy is considered as its likely cause (default 2 h).",
  },
  FW_PAGERDUTY_CHANGE_KEY_FILE: {
    schema: z.string(),
    default: '',
    doc:
      'File holding a PagerDuty Events API v2 integration key: ' +
      'when set, every new deploy marker is also sent to PagerDuty as a change event (shown next to incidents). ' +
      'Empty: not sent.',
  },
  FW_LOG_LEVEL: {
    schema: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    default: 'info',
    doc: 'pino log level.',
  },
  FW_LOG_PRETTY: {
    schema: z.enum(['auto', 'true', 'false']),
    default: 'auto',
    doc: 'Human-readable logs; `auto` means when stdout is a terminal.',
  },
  FW_SHUTDOWN_TIMEOUT_MS: {
    schema: durationMs,
    default: '10000',
    doc: 'Longest a graceful shutdown may take before the process exits anyway.',
  },
} satisfies Record<string, VarSpec>;

type Spec = typeof CONFIG_SPEC;
export type Config = { [K in keyof Spec]: z.output<Spec[K]['schema']> } & { configFile?: string };

export class ConfigError extends FwError {
  constructor(readonly problems: string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

function readConfigFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`FW_CONFIG_FILE: cannot read ${path}: ${(err as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError([`FW_CONFIG_FILE: ${path} is not valid YAML/JSON: ${(err as Error).message}`]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigError([`FW_CONFIG_FILE: ${path} must be a mapping of settings`]);
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    const name = k.startsWith('FW_') ? k : `FW_${k.toUpperCase()}`;
    if (!(name in CONFIG_SPEC)) {
      problems.push(`${path}: unknown setting "${k}"`);
      continue;
    }
    out[name] = Array.isArray(v) ? v.join(',') : String(v);
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}

/** Builds the validated configuration from an environment (process.env in production, a plain object in tests). */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const file = env.FW_CONFIG_FILE ? readConfigFile(env.FW_CONFIG_FILE) : {};
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(CONFIG_SPEC) as [string, VarSpec][]) {
    const raw = env[name] ?? file[name] ?? spec.default;
    if (raw === undefined) {
      problems.push(`${name}: missing; expected ${spec.doc}`);
      continue;
    }
    const r = spec.schema.safeParse(raw);
    if (r.success) out[name] = r.data;
    else {
      const shown = spec.secret ? '(hidden)' : JSON.stringify(hideUrlPasswords(raw));
      problems.push(`${name}: expected ${r.error.issues.map((i) => i.message).join('; ')}, got ${shown}`);
    }
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('FW_') && name !== 'FW_CONFIG_FILE' && !(name in CONFIG_SPEC)) {
      problems.push(`${name}: unknown variable${suggest(name)}`);
    }
  }
  if (typeof out.FW_REDIS_URL === 'string' && out.FW_REDIS_CLUSTER === false && out.FW_REDIS_URL.includes(',')) {
    problems.push('FW_REDIS_URL: a comma-separated list of nodes needs FW_REDIS_CLUSTER=true; give one URL otherwise');
  }
  if (out.FW_AUTH === 'none' && typeof out.FW_INGEST_TOKEN === 'string' && out.FW_INGEST_TOKEN !== '') {
    problems.push(
      'FW_AUTH=none turns the API token off, but FW_INGEST_TOKEN is set: ' +
        'unset FW_AUTH to require the token, or unset FW_INGEST_TOKEN',
    );
  }
  if (out.FW_EVAL_SHARDING === 'funnel' && typeof out.FW_PROBES_DIR === 'string' && out.FW_PROBES_DIR !== '') {
    // Canary-user alerts are no funnel's shard yet: stepped per shard they would page twice (an incident group is
    // owned by its funnel's shard, the probe alert by none).
    problems.push(
      'FW_PROBES_DIR: canary users do not run with FW_EVAL_SHARDING=funnel yet; ' +
        'run them in a daemon with FW_EVAL_SHARDING=off, or as `funnelwatch probe --redis` next to the sharded ones',
    );
  }
  if (problems.length) throw new ConfigError(problems);
  return { ...(out as Config), ...(env.FW_CONFIG_FILE ? { configFile: env.FW_CONFIG_FILE } : {}) };
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x.x.x) and `localhost`: addresses only this host can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) {
    if (h.startsWith('::ffff:')) return isIP(h.slice(7)) === 4 && h.slice(7).startsWith('127.');
    // ::1 in any spelling (0:0:0:0:0:0:0:1, ::0:1).
    const parts = h.split('::');
    const groups = parts.flatMap((p) => (p === '' ? [] : p.split(':')));
    return groups.length > 0 && groups.slice(0, -1).every((g) => /^0+$/.test(g)) && /^0*1$/.test(groups.at(-1)!);
  }
  return false;
}

/**
 * Closed by default: the daemon serves the API (ingest, silences, deploys, alerts) to the network only with a token,
 * unless FW_AUTH=none says so explicitly. Without a token it serves a loopback address only. Returns why the daemon
 * must not start, or null.
 */
export function apiExposureProblem(
  config: Pick<Config, 'FW_HTTP_HOST' | 'FW_INGEST_TOKEN' | 'FW_AUTH'>,
): string | null {
  if (config.FW_AUTH === 'none' || config.FW_INGEST_TOKEN !== '' || isLoopbackHost(config.FW_HTTP_HOST)) return null;
  return (
    `FW_HTTP_HOST=${config.FW_HTTP_HOST} serves the API (events, silences, deploys, alerts) beyond this host, ` +
    'and FW_INGEST_TOKEN is empty: anyone who reaches the port could write. Set FW_INGEST_TOKEN to a long random ' +
    'value (e.g. `openssl rand -hex 32`), or bind to 127.0.0.1, or set FW_AUTH=none if something in front ' +
    'authenticates every request'
  );
}

/** `scheme://user:password@host` → `scheme://user:(hidden)@host`, for every URL in a comma-separated value. */
export function hideUrlPasswords(value: string): string {
  return value.replace(/([a-z][a-z0-9+.-]*:\/\/[^/@,\s:]*:)[^@,\s]*@/gi, '$1(hidden)@');
}

/** The effective configuration to print (`funnelwatch config`): secrets hidden, passwords in URLs too. */
export function configForDisplay(config: Config): Record<string, unknown> {
  return Object.fromEntries(
    (Object.entries(CONFIG_SPEC) as [keyof Config & string, VarSpec][]).map(([name, spec]) => {
      const v = config[name];
      if (spec.secret) return [name, v === '' || v === undefined ? '' : '(hidden)'];
      return [name, typeof v === 'string' ? hideUrlPasswords(v) : v];
    }),
  );
}

function suggest(name: string): string {
  let best = '';
  let bestD = 4;
  for (const cand of Object.keys(CONFIG_SPEC)) {
    const d = editDistance(name, cand);
    if (d < bestD) {
      bestD = d;
      best = cand;
    }
  }
  return best ? ` (did you mean ${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

/** The README's configuration table, generated from the spec. */
export function configMarkdown(): string {
  const rows = Object.entries(CONFIG_SPEC as Record<string, VarSpec>).map(
    ([name, s]) =>
      `| \`${name}\` ` +
      `| ${s.default === undefined ? '(required)' : s.default === '' ? '(empty)' : `\`${s.default}\``} ` +
      `| ${s.doc} |`,
  );
  return [
    '| variable | default | meaning |',
    '|---|---|---|',
    '| `FW_CONFIG_FILE` | (none) | Optional YAML/JSON file with any of these settings ' +
      '(`redis_url: …` or `FW_REDIS_URL: …`); the environment wins. |',
    ...rows,
  ].join('\n');
}
