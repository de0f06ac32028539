/**
 * The key of one (rule, segment), shared by the state hash, the API (`GET /v1/alerts/:key`), delivery job ids and
 * the dashboard: `rule` for the whole funnel, `rule|dimension=value` for a segment.
 */
import type { SegmentRef } from './segment.js';

/** `%`, `|` and `=` are the key's separators and escape char; each part escapes them so the key is unambiguous. */
function escapePart(s: string): string {
  return s.replace(/[%|=]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function unescapePart(s: string): string {
  return s.replace(/%(25|7C|3D)/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * In each part `%`, `|` and `=` are written `%25`, `%7C` and `%3D` (dimension values are free text from events),
 * so two different (rule, segment) pairs never share a key and `parseAlertKey` inverts it.
 */
export function alertKey(rule: string, segment: SegmentRef | null): string {
  const r = escapePart(rule);
  return segment ? `${r}|${escapePart(segment.dimension)}=${escapePart(segment.value)}` : r;
}

/** The inverse of `alertKey`; undefined for a string `alertKey` cannot produce. */
export function parseAlertKey(key: string): { rule: string; segment: SegmentRef | null } | undefined {
  const parts = key.split('|');
  if (parts.length > 2 || parts[0] === undefined || parts[0].includes('=')) return undefined;
  const rule = unescapePart(parts[0]);
  if (parts.length === 1) return { rule, segment: null };
  const seg = (parts[1] ?? '').split('=');
  if (seg.length !== 2) return undefined;
  return { rule, segment: { dimension: unescapePart(seg[0] ?? ''), value: unescapePart(seg[1] ?? '') } };
}
