/** The client's one way to the server: JSON GETs, and writes with the session's CSRF token. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** How the visitor got in (the shell's meta tag): only a logged-in session (or the token) may write. */
export const access = document.querySelector('meta[name="fw-access"]')?.getAttribute('content') ?? 'public';

function csrf(): string {
  return /(?:^|;\s*)fw_csrf=([^;]+)/.exec(document.cookie)?.[1] ?? '';
}

async function answer<T>(r: Response): Promise<T> {
  const body = (await r.json().catch(() => ({}))) as { message?: string };
  if (r.status === 401 && access !== 'public') location.href = '/login';
  if (!r.ok) throw new ApiError(r.status, body.message ?? `HTTP ${r.status}`);
  return body as T;
}

export async function get<T>(path: string): Promise<T> {
  return answer<T>(await fetch(path, { headers: { accept: 'application/json' }, credentials: 'same-origin' }));
}

export async function send<T>(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'x-fw-csrf': csrf() };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return answer<T>(
    await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    }),
  );
}

export const pct = (x: number | null | undefined, digits = 1) =>
  typeof x === 'number' && Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '—';
export const when = (ms: number | null | undefined) =>
  typeof ms === 'number' ? new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + 'Z' : '—';
export const ago = (s: number | null | undefined) =>
  typeof s !== 'number'
    ? '—'
    : s < 120
      ? `${s} s`
      : s < 7200
        ? `${Math.round(s / 60)} min`
        : `${(s / 3600).toFixed(1)} h`;
export const segText = (s: { dimension: string; value: string } | null) => (s ? `${s.dimension}=${s.value}` : 'all');
