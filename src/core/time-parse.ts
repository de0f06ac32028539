/** Times as the HTTP API and the CLIs accept them (silences, deploy markers). */

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;
const TIME_HELP =
  'write an ISO 8601 time with a zone, ' +
  'e.g. 2025-01-06T14:00:00Z or 2025-01-06T15:00+01:00, or milliseconds since the epoch';

/**
 * A time as the API and CLI accept it: an ISO 8601 string with a zone (a time without one would mean the daemon's
 * zone, which is rarely the writer's) or whole milliseconds since the epoch.
 */
export function parseTime(value: unknown): { ok: true; ms: number } | { ok: false; message: string } {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return { ok: true, ms: value };
    return { ok: false, message: `${value} is not a time: ${TIME_HELP}` };
  }
  if (typeof value !== 'string') return { ok: false, message: `expected a time: ${TIME_HELP}` };
  const m = ISO_RE.exec(value.trim());
  const ms = m ? Date.parse(value.trim().replace(' ', 'T')) : NaN;
  if (!m || !Number.isFinite(ms)) return { ok: false, message: `"${value}" is not a time: ${TIME_HELP}` };
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // Date.parse rolls 2025-02-30 over to March 2nd rather than refusing it.
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || s > 59) {
    return { ok: false, message: `"${value}" is not a calendar time: ${TIME_HELP}` };
  }
  return { ok: true, ms };
}
