/**
 * `funnelwatch silence add | list | expire`: the command-line side of silences. It talks to a running daemon's
 * HTTP API rather than to Redis, so it needs no Redis credentials, and the daemon stays the one place that
 * validates silences and logs who created them.
 *
 * Each function returns the exit code: 0 done, 1 the daemon refused or could not be reached, 2 bad usage (checked
 * here before anything is sent, so a typo in a matcher never reaches the daemon).
 */
import { errorMessage } from '../core/errors.js';
import { DEFAULT_DAEMON_URL } from '../core/cli-defaults.js';
import { explainDuration } from '../rules/units.js';
import { formatMatchers, tryParseMatcher, type Matcher, type SilenceState } from './silences.js';
import { parseTime } from '../core/time-parse.js';

export interface SilenceClientOptions {
  /** Daemon base URL (`--url`, else FUNNELWATCH_URL, else DEFAULT_DAEMON_URL). */
  url: string;
  /** Bearer token (`--token`, else FUNNELWATCH_TOKEN); empty or undefined sends none. */
  token?: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Per request; default 10 s. */
  timeoutMs?: number;
}

/** URL and token from flags, then the environment, then the default. */
export function clientTarget(
  flags: { url?: string; token?: string },
  env: NodeJS.ProcessEnv,
): { url: string; token?: string } {
  const url = flags.url ?? env.FUNNELWATCH_URL ?? DEFAULT_DAEMON_URL;
  const token = flags.token ?? env.FUNNELWATCH_TOKEN;
  return token ? { url, token } : { url };
}

export interface SilenceAddArgs {
  matchers: string[];
  duration?: string;
  end?: string;
  start?: string;
  author?: string;
  comment?: string;
}

export async function runSilenceAdd(o: SilenceClientOptions, a: SilenceAddArgs): Promise<number> {
  const usage = (msg: string) => {
    o.err(`funnelwatch silence add: ${msg}`);
    return 2;
  };
  if (a.matchers.length === 0) return usage('give at least one matcher, e.g. funnel=checkout');
  const matchers: Matcher[] = [];
  for (const text of a.matchers) {
    const r = tryParseMatcher(text);
    if (!r.ok) return usage(r.message);
    matchers.push(r.matcher);
  }
  if ((a.duration === undefined) === (a.end === undefined))
    return usage('give either --duration (e.g. 2h) or --end (an ISO time), one of them');
  if (a.duration !== undefined) {
    const why = explainDuration(a.duration);
    if (why) return usage(`--duration: ${why}`);
  }
  for (const [flag, v] of [
    ['--end', a.end],
    ['--start', a.start],
  ] as const) {
    if (v === undefined) continue;
    const t = parseTime(v);
    if (!t.ok) return usage(`${flag}: ${t.message}`);
  }
  if (!a.author?.trim()) return usage('--author is required (it defaults to $USER, which is not set)');
  if (!a.comment?.trim()) return usage('--comment is required: say why, e.g. a ticket or the maintenance being done');

  // The end goes as a duration when given as one, so the daemon counts it from its own clock, not this machine's.
  const body = {
    matchers,
    ...(a.start !== undefined ? { startsAt: a.start } : {}),
    ...(a.duration !== undefined ? { duration: a.duration } : { endsAt: a.end }),
    createdBy: a.author.trim(),
    comment: a.comment.trim(),
  };
  const r = await call(o, 'POST', '/v1/silences', body);
  if (!r.ok) return 1;
  o.out(String((r.body as { id?: unknown }).id));
  return 0;
}

export interface SilenceListArgs {
  state?: string;
  json?: boolean;
}

export const LIST_STATES = ['active', 'pending', 'expired', 'all'] as const;

export async function runSilenceList(o: SilenceClientOptions, a: SilenceListArgs): Promise<number> {
  const state = a.state ?? 'all';
  if (!(LIST_STATES as readonly string[]).includes(state)) {
    o.err(`funnelwatch silence list: --state must be one of ${LIST_STATES.join(', ')}`);
    return 2;
  }
  const r = await call(o, 'GET', `/v1/silences?state=${encodeURIComponent(state)}`);
  if (!r.ok) return 1;
  const silences = ((r.body as { silences?: unknown }).silences ?? []) as ListedSilence[];
  if (a.json) {
    o.out(JSON.stringify(silences, null, 2));
    return 0;
  }
  if (silences.length === 0) {
    o.out(state === 'all' ? 'no silences' : `no ${state} silences`);
    return 0;
  }
  for (const line of silenceTable(silences)) o.out(line);
  return 0;
}

export async function runSilenceExpire(o: SilenceClientOptions, a: { id: string }): Promise<number> {
  if (!a.id.trim()) {
    o.err('funnelwatch silence expire: give the id of the silence (see funnelwatch silence list)');
    return 2;
  }
  const r = await call(o, 'DELETE', `/v1/silences/${encodeURIComponent(a.id.trim())}`);
  if (!r.ok) return 1;
  const s = r.body as ListedSilence;
  o.out(`expired ${s.id} (${formatMatchers(s.matchers)})`);
  return 0;
}

interface ListedSilence {
  id: string;
  state: SilenceState;
  matchers: Matcher[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
}

/** A plain-text table, columns padded to their widest cell; the comment last, so a long one only runs long. */
export function silenceTable(silences: readonly ListedSilence[]): string[] {
  const rows = [
    ['ID', 'STATE', 'MATCHERS', 'STARTS', 'UNTIL', 'AUTHOR', 'COMMENT'],
    ...silences.map((s) => [
      s.id,
      s.state,
      formatMatchers(s.matchers),
      shortTime(s.startsAt),
      shortTime(s.endsAt),
      s.createdBy,
      oneLine(s.comment),
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

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

type CallResult = { ok: true; status: number; body: unknown } | { ok: false };

/** One request; on any failure prints what went wrong and what to do, and answers `{ ok: false }`. */
async function call(o: SilenceClientOptions, method: string, path: string, body?: unknown): Promise<CallResult> {
  let base: URL;
  try {
    base = new URL(o.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    o.err(
      `funnelwatch: ${JSON.stringify(o.url)} is not an http(s) URL; ` +
        `set --url or FUNNELWATCH_URL, e.g. ${DEFAULT_DAEMON_URL}`,
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
        'is it running? Point --url or FUNNELWATCH_URL at its HTTP address',
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

  const answer = parsed as { error?: unknown; message?: unknown; problems?: unknown } | undefined;
  if (answer && typeof answer.message === 'string') {
    if (Array.isArray(answer.problems) && answer.problems.length > 0) {
      o.err('funnelwatch: the daemon refused the silence:');
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
