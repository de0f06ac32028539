/**
 * The dashboard's login session, without server-side state (any replica verifies it, Redis holds nothing): the
 * cookie is `<expiry>.<HMAC(token, expiry)>`, so only someone who knew the API token when logging in holds one, and
 * changing the token logs everyone out. The CSRF token is derived from the session the same way (signed double
 * submit): the page reads it from a non-HttpOnly cookie and sends it back in a header on every state-changing
 * request; a cross-site page can neither read it nor forge it, and SameSite=Strict keeps the browser from sending
 * the session cookie on a cross-site request in the first place.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'fw_session';
export const CSRF_COOKIE = 'fw_csrf';
export const CSRF_HEADER = 'x-fw-csrf';
export const SESSION_TTL_MS = 12 * 3_600_000;

const sign = (token: string, what: string) => createHmac('sha256', token).update(what).digest('base64url');

/** A new session cookie value for `token`, valid until now + SESSION_TTL_MS. */
export function newSession(token: string, now: number): string {
  const exp = String(now + SESSION_TTL_MS);
  return `${exp}.${sign(token, `fw-session:${exp}`)}`;
}

/** Whether `value` is a session signed with `token` that has not expired at `now`. */
export function sessionValid(token: string, value: string | undefined, now: number): boolean {
  if (!token || !value) return false;
  const m = /^(\d{1,16})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!m || Number(m[1]) <= now) return false;
  return safeEqual(m[2]!, sign(token, `fw-session:${m[1]}`));
}

/** The CSRF token that goes with a session. */
export function csrfFor(token: string, session: string): string {
  return sign(token, `fw-csrf:${session}`);
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a),
    y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The value of one cookie in a Cookie header (undefined when absent). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export type CookieAuth = { ok: true } | { ok: false; message: string };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether a request authenticates with the dashboard's session cookie. A state-changing one must also carry the
 * session's CSRF token in the X-FW-CSRF header and, when the browser sends an Origin, come from this host.
 */
export function cookieAuth(
  token: string,
  req: { method: string; headers: Record<string, string | string[] | undefined> },
  now: number,
): CookieAuth {
  const session = cookieValue(req.headers.cookie as string | undefined, SESSION_COOKIE);
  if (!sessionValid(token, session, now)) return { ok: false, message: 'no valid dashboard session' };
  if (SAFE_METHODS.has(req.method)) return { ok: true };
  const origin = req.headers.origin as string | undefined;
  const host = req.headers.host as string | undefined;
  if (origin !== undefined && origin !== 'null' && host !== undefined) {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = '';
    }
    if (originHost !== host) return { ok: false, message: `cross-origin request refused (Origin ${origin})` };
  }
  const sent = req.headers[CSRF_HEADER];
  if (typeof sent !== 'string' || !safeEqual(sent, csrfFor(token, session!))) {
    return { ok: false, message: `a dashboard request that changes state needs the ${CSRF_HEADER} header` };
  }
  return { ok: true };
}
