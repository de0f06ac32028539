/**
 * `funnelwatch deploy` (record a marker, for CI/CD scripts) and `funnelwatch deploys list`: the command-line side of
 * deploy markers. Like `silence`, it talks to a running daemon's HTTP API, so a CI job needs the daemon's address
 * and token, never Redis credentials.
 *
 * The daemon's address is `--api` (not `--url` as for `silence`: `--url` is the deploy's own link, which is what a
 * CI script most naturally passes).
 *
 * Each function returns the exit code: 0 done, 1 the daemon refused or could not be reached, 2 bad usage (checked
 * here with the daemon's own validation before anything is sent, so a typo never reaches the daemon).
 */
import { errorMessage } from '../core/errors.js';
import { DEFAULT_DAEMON_URL } from '../core/cli-defaults.js';
import { DURATION_PATTERN } from '../rules/units.js';
import { DEPLOY_LIST_MAX_LIMIT } from './deploy-store.js';
import { parseWhen, validateDeployInput, type Deploy } from './deploy.js';

export interface DeployClientOptions {
  /** Daemon base URL (`--api`, else FUNNELWATCH_URL, else DEFAULT_DAEMON_URL). */
  url: string;
  /** Bearer token (`--token`, else FUNNELWATCH_TOKEN); empty or undefined sends none. */
  token?: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Per request; default 10 s. */
  timeoutMs?: number;
}

/** Daemon URL and token from flags, then the environment, then the default. */
export function deployClientTarget(
  flags: { api?: string; token?: string },
  env: NodeJS.ProcessEnv,
): { url: string; token?: string } {
  const url = flags.api ?? env.FUNNELWATCH_URL ?? DEFAULT_DAEMON_URL;
  const token = flags.token ?? env.FUNNELWATCH_TOKEN;
  return token ? { url, token } : { url };
}

export interface DeployAddArgs {
  service?: string;
  version?: string;
  environment?: string;
  ts?: string;
  commit?: string;
  author?: string;
  /** The deploy's link (build, release, change). */
  url?: string;
  /** `key=value`, repeatable. */
  attrs?: string[];
}

/** Validation problems name body fields; on the command line the flags are what the user typed. */
function asFlag(problem: string): string {
  return problem
    .replace(/^attrs\.([^:]+):/, '--attr $1:')
    .replace(/^(service|version|environment|ts|commit|author|url|attrs):/, '--$1:')
    .replace(/^--attrs:/, '--attr:');
}

export async function runDeployAdd(o: DeployClientOptions, a: DeployAddArgs): Promise<number> {
  const usage = (msg: string) => {
    o.err(`funnelwatch deploy: ${msg}`);
    return 2;
  };
  if (!a.service?.trim()) return usage('--service is required: the deployed service, e.g. --service payments-service');
  if (!a.version?.trim()) return usage('--version is required: the version deployed, e.g. --version v2.3.1');
  const attrs: Record<string, string> = {};
  for (const kv of a.attrs ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) return usage(`--attr ${JSON.stringify(kv)}: write key=value, e.g. --attr platform=android`);
    const k = kv.slice(0, eq).trim();
    if (Object.hasOwn(attrs, k)) return usage(`--attr ${k} is given twice`);
    attrs[k] = kv.slice(eq + 1);
  }
  const body: Record<string, unknown> = {
    service: a.service.trim(),
    version: a.version.trim(),
    ...(a.environment !== undefined ? { environment: a.environment } : {}),
    ...(a.ts !== undefined ? { ts: a.ts } : {}),
    ...(a.commit !== undefined ? { commit: a.commit } : {}),
    ...(a.author !== undefined ? { author: a.author } : {}),
    ...(a.url !== undefined ? { url: a.url } : {}),
    ...(Object.keys(attrs).length > 0 ? { attrs } : {}),
  };
  const local = validateDeployInput(body, Date.now());
  if (!local.ok) {
    o.err('funnelwatch deploy: the marker is not valid:');
    for (const p of local.problems) o.err(`  ${asFlag(p)}`);
    return 2;
  }

  // Without --ts the daemon stamps the marker with its own clock, the one its alerts' onsets are measured on.
  const r = await call(o, 'POST', '/v1/deploys', body);
  if (!r.ok) return 1;
  const d = r.body as Partial<Deploy> & { duplicate?: boolean };
  o.out(String(d.id));
  if (d.duplicate) {
    o.err(
      `funnelwatch deploy: already recorded ` +
        `(same service, version, environment and time: ${d.service} ${d.version} to ${d.environment} at ` +
        `${typeof d.ts === 'number' ? shortTime(d.ts) : '?'}); nothing changed`,
    );
  }
  return 0;
}

export interface DeployListArgs {
  /** ISO time, ms, or a duration back from now (`24h`); default 24h. */
  since?: string;
  service?: string;
  environment?: string;
  limit?: string;
  json?: boolean;
}

export async function runDeployList(o: DeployClientOptions, a: DeployListArgs): Promise<number> {
  const since = a.since ?? '24h';
  const t = parseWhen(since, Date.now());
  if (!t.ok) {
    o.err(`funnelwatch deploys list: --since: ${t.message}`);
    return 2;
  }
  if (
    a.limit !== undefined &&
    !(/^\d+$/.test(a.limit) && Number(a.limit) >= 1 && Number(a.limit) <= DEPLOY_LIST_MAX_LIMIT)
  ) {
    o.err(`funnelwatch deploys list: --limit: give a whole number from 1 to ${DEPLOY_LIST_MAX_LIMIT}`);
    return 2;
  }
  // Sent as typed: a duration is counted back from the daemon's clock, not this machine's.
  const q = new URLSearchParams({ since });
  if (a.service !== undefined) q.set('service', a.service);
  if (a.environment !== undefined) q.set('environment', a.environment);
  if (a.limit !== undefined) q.set('limit', a.limit);
  const r = await call(o, 'GET', `/v1/deploys?${q.toString()}`);
  if (!r.ok) return 1;
  const deploys = ((r.body as { deploys?: unknown }).deploys ?? []) as Deploy[];
  if (a.json) {
    o.out(JSON.stringify(deploys, null, 2));
    return 0;
  }
  if (deploys.length === 0) {
    const when = new RegExp(DURATION_PATTERN).test(since.trim()) ? `in the last ${since.trim()}` : `since ${since}`;
    o.out(
      `no deploys${a.service !== undefined ? ` of ${a.service}` : ''}` +
        `${a.environment !== undefined ? ` to ${a.environment}` : ''} ${when}`,
    );
    return 0;
  }
  for (const line of deployTable(deploys)) o.out(line);
  return 0;
}

/** A plain-text table, newest first as the API answers, columns padded to their widest cell; attributes last. */
export function deployTable(deploys: readonly Deploy[]): string[] {
  const rows = [
    ['TIME', 'SERVICE', 'VERSION', 'ENVIRONMENT', 'COMMIT', 'AUTHOR', 'ID', 'ATTRS'],
    ...deploys.map((d) => [
      shortTime(d.ts),
      d.service,
      d.version,
      d.environment,
      d.commit ?? '-',
      d.author ?? '-',
      d.id,
      Object.entries(d.attrs ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}

function shortTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

type CallResult = { ok: true; status: number; body: unknown } | { ok: false };

/** One request; on any failure prints what went wrong and what to do, and answers `{ ok: false }`. */
async function call(o: DeployClientOptions, method: string, path: string, body?: unknown): Promise<CallResult> {
  let base: URL;
  try {
    base = new URL(o.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    o.err(
      `funnelwatch: ${JSON.stringify(o.url)} is not an http(s) URL; ` +
        `set --api or FUNNELWATCH_URL, e.g. ${DEFAULT_DAEMON_URL}`,
    );
    return { ok: false };
  }
  // Appended, not resolved: a daemon behind a proxy at https://host/funnelwatch keeps its path prefix.
  const url = new URL(`${base.origin}${base.pathname.replace(/\/$/, '')}${path}`);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';

  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
    });
  } catch (err) {
    o.err(
      `funnelwatch: cannot reach the daemon at ${o.url} (${networkReason(err)}); ` +
        `is it running? Point --api or FUNNELWATCH_URL at its HTTP address`,
    );
    return { ok: false };
  }
  const text = await res.text().catch(() => '');
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (res.ok && parsed !== undefined) return { ok: true, status: res.status, body: parsed };

  const answer = parsed as { message?: unknown; problems?: unknown } | undefined;
  if (answer && typeof answer.message === 'string') {
    if (Array.isArray(answer.problems) && answer.problems.length > 0) {
      o.err('funnelwatch: the daemon refused the deploy marker:');
      for (const p of answer.problems) o.err(`  ${String(p)}`);
    } else {
      o.err(`funnelwatch: ${answer.message}`);
    }
    if (res.status === 401) o.err('  (set the token with --token or FUNNELWATCH_TOKEN)');
  } else {
    o.err(
      `funnelwatch: ${method} ${url.href} answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}; ` +
        `is ${base.origin} the funnelwatch daemon?`,
    );
  }
  return { ok: false };
}

function networkReason(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'no answer in time';
  // undici puts the system error (ECONNREFUSED, ENOTFOUND) in `cause`; "fetch failed" alone says nothing.
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message;
  }
  return errorMessage(err);
}
