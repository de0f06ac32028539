/**
 * The command-line clients' one HTTP client for a running daemon's API (`silence`, `deploy`, `deploys list`): the
 * daemon's address and token from flags or the environment, one request with a timeout, and every failure turned
 * into a message that says what to do. The commands stay free of HTTP; they only say how their flags are named.
 */
import { DEFAULT_DAEMON_URL } from './cli-defaults.js';
import { errorMessage } from './errors.js';

export interface DaemonClientOptions {
  /** Daemon base URL (the address flag, else FUNNELWATCH_URL, else DEFAULT_DAEMON_URL). */
  url: string;
  /** Bearer token (`--token`, else FUNNELWATCH_TOKEN); empty or undefined sends none. */
  token?: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Per request; default 10 s. */
  timeoutMs?: number;
}

/** How a command's messages name things, since its flags differ: `silence` takes `--url`, `deploy` `--api`. */
export interface DaemonApiWording {
  /** The flag that sets the daemon's address (`--url`, or `--api` where `--url` is the deploy's own link). */
  addressFlag: string;
  /** What a refused request carried, as in "the daemon refused the silence:". */
  subject: string;
}

/** Daemon URL and token from flags, then the environment, then the default. */
export function daemonTarget(
  flags: { address?: string; token?: string },
  env: NodeJS.ProcessEnv,
): { url: string; token?: string } {
  const url = flags.address ?? env.FUNNELWATCH_URL ?? DEFAULT_DAEMON_URL;
  const token = flags.token ?? env.FUNNELWATCH_TOKEN;
  return token ? { url, token } : { url };
}

/** A refused request carries the daemon's status and error code (absent when the daemon was not reached). */
export type DaemonAnswer = { ok: true; status: number; body: unknown } | { ok: false; status?: number; code?: string };

/** One request; on any failure prints what went wrong and what to do, and answers `{ ok: false }`. */
export async function callDaemon(
  o: DaemonClientOptions,
  wording: DaemonApiWording,
  method: string,
  path: string,
  body?: unknown,
): Promise<DaemonAnswer> {
  const flag = wording.addressFlag;
  let base: URL;
  try {
    base = new URL(o.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    o.err(
      `funnelwatch: ${JSON.stringify(o.url)} is not an http(s) URL; set ${flag} or FUNNELWATCH_URL, ` +
        `e.g. ${DEFAULT_DAEMON_URL}`,
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
        `is it running? Point ${flag} or FUNNELWATCH_URL at its HTTP address`,
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

  const answer = parsed as { message?: unknown; problems?: unknown; error?: unknown } | undefined;
  if (answer && typeof answer.message === 'string') {
    if (Array.isArray(answer.problems) && answer.problems.length > 0) {
      o.err(`funnelwatch: the daemon refused ${wording.subject}:`);
      for (const p of answer.problems) o.err(`  ${String(p)}`);
    } else {
      o.err(`funnelwatch: ${answer.message}`);
    }
    if (res.status === 401) o.err('  (set the token with --token or FUNNELWATCH_TOKEN)');
    return { ok: false, status: res.status, ...(typeof answer.error === 'string' ? { code: answer.error } : {}) };
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
