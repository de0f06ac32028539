/**
 * Turns one raw message into an FwEvent, or a rejection with a stable reason code. Pure: the time used for the
 * "too far in the future" check is passed in.
 *
 * Accepted envelopes, detected by their fields:
 *   - native:      {id, type, ts, entity, attrs}            (field names configurable: FieldMap)
 *   - Segment:     {type:"track", event, timestamp, messageId, userId|anonymousId, properties}
 *   - CloudEvents: {specversion, id, type, time, source, data}  (structured mode JSON)
 */
import type { FwEvent } from './event.js';

export type RejectReason =
  | 'empty'
  | 'oversized'
  | 'invalid_json'
  | 'not_an_object'
  | 'unknown_envelope'
  | 'missing_field'
  | 'wrong_type'
  | 'invalid_timestamp'
  | 'future_timestamp'
  | 'field_too_long';

export type ParseResult = { ok: true; event: FwEvent; envelope: 'native' | 'segment' | 'cloudevents' } | { ok: false; reason: RejectReason; detail: string };

/** Names of the native envelope's fields, for producers whose events use other names. */
export interface FieldMap {
  id: string;
  type: string;
  ts: string;
  entity: string;
  attrs: string;
}

export const DEFAULT_FIELDS: FieldMap = { id: 'id', type: 'type', ts: 'ts', entity: 'entity', attrs: 'attrs' };

export interface ParseOptions {
  fields: FieldMap;
  maxBytes: number;
  /** Events whose time is further ahead of `now` than this are rejected (clock skew or garbage). */
  maxFutureMs: number;
  now: number;
  /** Longest id, type, entity, attribute name or value accepted. */
  maxFieldLength: number;
  /** Most attributes kept per event. */
  maxAttrs: number;
}

export const DEFAULT_PARSE_OPTIONS: Omit<ParseOptions, 'now'> = {
  fields: DEFAULT_FIELDS,
  maxBytes: 64 * 1024,
  maxFutureMs: 5 * 60_000,
  maxFieldLength: 256,
  maxAttrs: 64,
};

const reject = (reason: RejectReason, detail: string): ParseResult => ({ ok: false, reason, detail });

export function parseEvent(raw: Buffer | string | null, opts: ParseOptions): ParseResult {
  if (raw === null || raw.length === 0) return reject('empty', 'message has no value');
  const bytes = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (bytes > opts.maxBytes) return reject('oversized', `message is ${bytes} bytes; the limit is ${opts.maxBytes}`);
  let doc: unknown;
  try {
    doc = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    return reject('invalid_json', `not valid JSON: ${(err as Error).message}`);
  }
  return normalizeEvent(doc, opts);
}

/** Validates an already-decoded JSON value (HTTP ingest decodes the batch once). */
export function normalizeEvent(doc: unknown, opts: ParseOptions): ParseResult {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return reject('not_an_object', 'an event must be a JSON object');
  const o = doc as Record<string, unknown>;
  if (typeof o.specversion === 'string' && 'type' in o) {
    return build('cloudevents', { id: o.id, type: o.type, ts: o.time, entity: pickEntityFromCloudEvent(o), attrs: o.data }, ['id', 'type', 'time', 'subject|data.entity', 'data'], opts);
  }
  if (o.type === 'track' && 'event' in o) {
    return build('segment', { id: o.messageId, type: o.event, ts: o.timestamp ?? o.originalTimestamp, entity: o.userId ?? o.anonymousId, attrs: o.properties }, ['messageId', 'event', 'timestamp', 'userId|anonymousId', 'properties'], opts);
  }
  const f = opts.fields;
  if (f.type in o || f.ts in o) {
    return build('native', { id: o[f.id], type: o[f.type], ts: o[f.ts], entity: o[f.entity], attrs: o[f.attrs] }, [f.id, f.type, f.ts, f.entity, f.attrs], opts);
  }
  return reject('unknown_envelope', `not a native event (needs "${f.type}" and "${f.ts}"), a Segment track call or a CloudEvent`);
}

function pickEntityFromCloudEvent(o: Record<string, unknown>): unknown {
  if (o.subject !== undefined) return o.subject;
  const d = o.data;
  if (d && typeof d === 'object' && !Array.isArray(d)) {
    const dd = d as Record<string, unknown>;
    return dd.entity ?? dd.entity_id ?? dd.userId ?? dd.user_id;
  }
  return undefined;
}

interface Picked { id: unknown; type: unknown; ts: unknown; entity: unknown; attrs: unknown }

function build(envelope: 'native' | 'segment' | 'cloudevents', p: Picked, names: string[], opts: ParseOptions): ParseResult {
  const [idN, typeN, tsN, entityN, attrsN] = names as [string, string, string, string, string];
  if (p.type === undefined || p.type === null || p.type === '') return reject('missing_field', `${envelope} event has no "${typeN}"`);
  if (typeof p.type !== 'string') return reject('wrong_type', `"${typeN}" must be a string, got ${typeName(p.type)}`);
  if (p.ts === undefined || p.ts === null) return reject('missing_field', `${envelope} event has no "${tsN}"`);
  const ts = parseTimestamp(p.ts);
  if (ts === null) return reject('invalid_timestamp', `"${tsN}" must be an ISO-8601 time or epoch milliseconds, got ${preview(p.ts)}`);
  if (ts > opts.now + opts.maxFutureMs) return reject('future_timestamp', `"${tsN}" ${new Date(ts).toISOString()} is more than ${Math.round(opts.maxFutureMs / 1000)} s in the future`);
  const id = p.id === undefined || p.id === null ? '' : p.id;
  if (typeof id !== 'string' && typeof id !== 'number') return reject('wrong_type', `"${idN}" must be a string, got ${typeName(id)}`);
  let entity = p.entity === undefined || p.entity === null ? '' : p.entity;
  if (typeof entity === 'number') entity = String(entity);
  if (typeof entity !== 'string') return reject('wrong_type', `"${entityN}" must be a string, got ${typeName(entity)}`);
  const attrsIn = p.attrs === undefined || p.attrs === null ? {} : p.attrs;
  if (typeof attrsIn !== 'object' || Array.isArray(attrsIn)) return reject('wrong_type', `"${attrsN}" must be an object, got ${typeName(attrsIn)}`);
  const attrs: Record<string, string> = {};
  const tooLong = flatten(attrsIn as Record<string, unknown>, '', attrs, opts, 0);
  if (tooLong) return reject('field_too_long', tooLong);
  for (const [name, v] of [[typeN, p.type], [idN, String(id)], [entityN, entity]] as const) {
    if (v.length > opts.maxFieldLength) return reject('field_too_long', `"${name}" is ${v.length} characters; the limit is ${opts.maxFieldLength}`);
  }
  return { ok: true, envelope, event: { id: String(id), type: p.type, ts, entity, attrs } };
}

/** Flattens nested objects with dots; keeps scalars as strings. Returns a message when a limit is exceeded. */
function flatten(o: Record<string, unknown>, prefix: string, out: Record<string, string>, opts: ParseOptions, depth: number): string | null {
  for (const [k, v] of Object.entries(o)) {
    const key = prefix + k;
    if (v === null || v === undefined) continue;
    if (typeof v === 'object' && !Array.isArray(v)) {
      if (depth >= 3) continue; // deeper structure is never a funnel dimension; skip rather than reject
      const r = flatten(v as Record<string, unknown>, `${key}.`, out, opts, depth + 1);
      if (r) return r;
      continue;
    }
    if (Array.isArray(v)) continue;
    const s = String(v);
    if (key.length > opts.maxFieldLength) return `attribute name "${key.slice(0, 40)}…" is ${key.length} characters; the limit is ${opts.maxFieldLength}`;
    if (s.length > opts.maxFieldLength) return `attribute "${key}" is ${s.length} characters; the limit is ${opts.maxFieldLength}`;
    if (Object.keys(out).length >= opts.maxAttrs) return `more than ${opts.maxAttrs} attributes`;
    out[key] = s;
  }
  return null;
}

/** ISO-8601 with a zone, or epoch milliseconds (number or digit string). Epoch seconds are recognised by size. */
export function parseTimestamp(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? normalizeEpoch(v) : null;
  if (typeof v !== 'string' || v.length === 0 || v.length > 40) return null;
  if (/^\d+(\.\d+)?$/.test(v)) return normalizeEpoch(Number(v));
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(v)) return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

function normalizeEpoch(n: number): number | null {
  // Below 1e11 it can only be seconds (1e11 ms is 1973); anything past year 3000 in ms is garbage.
  const ms = n < 1e11 ? n * 1000 : n;
  return ms > 32503680000000 ? null : Math.trunc(ms);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function preview(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}
