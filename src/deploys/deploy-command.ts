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
import { callDaemon, type DaemonAnswer, type DaemonApiWording, type DaemonClientOptions } from '../core/daemon-api.js';
import { shortTime, textTable } from '../core/text.js';
import { DURATION_PATTERN } from '../rules/units.js';
import { DEPLOY_LIST_MAX_LIMIT } from './deploy-store.js';
import { parseWhen, validateDeployInput, type Deploy } from './deploy.js';

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

export async function runDeployAdd(o: DaemonClientOptions, a: DeployAddArgs): Promise<number> {
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
      'funnelwatch deploy: already recorded (same service, version, environment and time: ' +
        `${d.service} ${d.version} to ${d.environment} at ` +
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

export async function runDeployList(o: DaemonClientOptions, a: DeployListArgs): Promise<number> {
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
    const of = a.service !== undefined ? ` of ${a.service}` : '';
    const to = a.environment !== undefined ? ` to ${a.environment}` : '';
    o.out(`no deploys${of}${to} ${when}`);
    return 0;
  }
  for (const line of deployTable(deploys)) o.out(line);
  return 0;
}

/** A plain-text table, newest first as the API answers, columns padded to their widest cell; attributes last. */
export function deployTable(deploys: readonly Deploy[]): string[] {
  return textTable([
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
  ]);
}

/** `--api`, not `--url`: on `deploy`, `--url` is the deploy's own link. */
const WORDING: DaemonApiWording = { addressFlag: '--api', subject: 'the deploy marker' };

function call(o: DaemonClientOptions, method: string, path: string, body?: unknown): Promise<DaemonAnswer> {
  return callDaemon(o, WORDING, method, path, body);
}
