/**
 * Pure text helpers shared by the receivers, the deploy-marker senders and the command-line clients: truncation on
 * code points (APIs count characters, and a split surrogate pair is rejected or rendered as garbage), durations in
 * words, and plain-text tables. Total: odd input yields "?" or a shorter text, never an exception.
 */

const ELLIPSIS = '…';

/**
 * `s` cut to at most `max` code points, ending in "…" when cut (the ellipsis counts toward `max`). Code points, not
 * UTF-16 units, so an emoji or a CJK supplementary character is never split into a lone surrogate that an API
 * would reject or render as garbage.
 */
export function truncateCodePoints(s: string, max: number): { text: string; truncated: boolean } {
  const limit = Number.isFinite(max) ? Math.max(0, Math.floor(max)) : 0;
  // Fast path: a string of ≤ limit UTF-16 units has ≤ limit code points.
  if (s.length <= limit) return { text: s, truncated: false };
  const points = Array.from(s);
  if (points.length <= limit) return { text: s, truncated: false };
  if (limit === 0) return { text: '', truncated: true };
  return { text: points.slice(0, limit - 1).join('') + ELLIPSIS, truncated: true };
}

/**
 * `s` cut on a code point boundary so that its UTF-16 length is at most `max`, ending in "…" when cut. For APIs
 * whose limits say "characters" without saying which: a UTF-16 length ≤ max implies ≤ max code points too, so the
 * text fits whichever way the server counts (emoji-heavy text is cut a little early; a rejected page is worse).
 */
export function truncateUtf16(s: string, max: number): { text: string; truncated: boolean } {
  const limit = Number.isFinite(max) ? Math.max(0, Math.floor(max)) : 0;
  if (s.length <= limit) return { text: s, truncated: false };
  if (limit === 0) return { text: '', truncated: true };
  let end = limit - 1; // room for the ellipsis (one UTF-16 unit)
  // Never leave the high half of a surrogate pair at the end.
  if (end > 0 && isHighSurrogate(s.charCodeAt(end - 1))) end--;
  return { text: s.slice(0, end) + ELLIPSIS, truncated: true };
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** Length in code points, the unit Slack and PagerDuty limits are stated in. */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function finite(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/** A span in ms as "45 s", "12 min", "3 h 05 min", "2 d 4 h"; "?" when negative or not a number. */
export function formatDuration(ms: number | null | undefined): string {
  if (!finite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.round(ms / 60_000);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h} h` : `${h} h ${String(m % 60).padStart(2, '0')} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}

/**
 * A time in ms as ISO 8601 to the second (`2025-01-06T14:00:00Z`), for table columns. The one helper here that
 * throws (a RangeError, as toISOString) on a time that is not one: callers pass times the daemon stored.
 */
export function shortTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Rows (the header first) as plain-text lines, columns padded to their widest cell and two spaces apart; the last
 * column is not padded, so a long last cell (a comment, attributes) only runs long.
 */
export function textTable(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}
