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
  | 'too_old'
  | 'implausible_timestamp'
  | 'field_too_long';

export type ParseResult =
  | { ok: true; event: FwEvent; envelope: 'native' | 'segment' | 'cloudevents' }
  | { ok: false; reason: RejectReason; detail: string };

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
  /**
   * Events older than this before `now` are rejected: no funnel keeps history that long, so the windows would
   * drop them as late after ingest had said "accepted" (a truncated or seconds-for-milliseconds timestamp).
   */
  maxAgeMs?: number;
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
  maxAgeMs: 35 * 86_400_000,
  maxFieldLength: 256,
  maxAttrs: 64,
};

const reject = (reason: RejectReason, detail: string): ParseResult => ({ ok: false, reason, detail });

/**
 * Earlier than this no event of a funnel happened: a time before 2000 is a truncated or mis-scaled timestamp
 * (seconds read as milliseconds gives 1970). Rejected as `implausible_timestamp` whatever the age limit, live and in
 * replay (which has no age limit of its own: the stream's own newest time judges age there).
 */
export const EARLIEST_PLAUSIBLE_TS = Date.UTC(2000, 0, 1);

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

/**
 * Validates an already-decoded JSON value and `json`, the text that will travel on for it (HTTP ingest decodes the
 * batch once and forwards each event re-encoded): the same checks `parseEvent` makes of that text, size included,
 * so an event accepted here is never rejected by the consumer later.
 */
export function checkDecodedEvent(doc: unknown, json: string, opts: ParseOptions): ParseResult {
  const bytes = Buffer.byteLength(json);
  if (bytes > opts.maxBytes) return reject('oversized', `event is ${bytes} bytes; the limit is ${opts.maxBytes}`);
  return normalizeEvent(doc, opts);
}

/** Validates an already-decoded JSON value (no size check: see checkDecodedEvent). */
export function normalizeEvent(doc: unknown, opts: ParseOptions): ParseResult {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    return reject('not_an_object', 'an event must be a JSON object');
  const o = doc as Record<string, unknown>;
  if (typeof o.specversion === 'string' && 'type' in o) {
    return build('cloudevents', o.id, o.type, o.time, pickEntityFromCloudEvent(o), o.data, CLOUDEVENT_NAMES, opts);
  }
  if (o.type === 'track' && 'event' in o) {
    return build(
      'segment',
      o.messageId,
      o.event,
      o.timestamp ?? o.originalTimestamp,
      o.userId ?? o.anonymousId,
      o.properties,
      SEGMENT_NAMES,
      opts,
    );
  }
  const f = opts.fields;
  if (f.type in o || f.ts in o) {
    return build('native', o[f.id], o[f.type], o[f.ts], o[f.entity], o[f.attrs], f, opts);
  }
  return reject(
    'unknown_envelope',
    `not a native event (needs "${f.type}" and "${f.ts}"), a Segment track call or a CloudEvent`,
  );
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

/** The field names an envelope's values were read from, for the messages (the native names come from FieldMap). */
const CLOUDEVENT_NAMES: FieldMap = { id: 'id', type: 'type', ts: 'time', entity: 'subject|data.entity', attrs: 'data' };
const SEGMENT_NAMES: FieldMap = {
  id: 'messageId',
  type: 'event',
  ts: 'timestamp',
  entity: 'userId|anonymousId',
  attrs: 'properties',
};
const NO_ATTRS: Record<string, unknown> = Object.freeze({});

// Runs for every consumed event: plain arguments and no temporary objects, so the garbage collector has less to do.
function build(
  envelope: 'native' | 'segment' | 'cloudevents',
  idIn: unknown,
  type: unknown,
  tsIn: unknown,
  entityIn: unknown,
  attrsRaw: unknown,
  names: FieldMap,
  opts: ParseOptions,
): ParseResult {
  if (type === undefined || type === null || type === '')
    return reject('missing_field', `${envelope} event has no "${names.type}"`);
  if (typeof type !== 'string') return reject('wrong_type', `"${names.type}" must be a string, got ${typeName(type)}`);
  if (tsIn === undefined || tsIn === null) return reject('missing_field', `${envelope} event has no "${names.ts}"`);
  const ts = parseTimestamp(tsIn);
  if (ts === null)
    return reject(
      'invalid_timestamp',
      `"${names.ts}" must be an ISO-8601 time or epoch milliseconds, got ${preview(tsIn)}`,
    );
  if (ts < EARLIEST_PLAUSIBLE_TS)
    return reject(
      'implausible_timestamp',
      `"${names.ts}" ${new Date(ts).toISOString()} is before 2000: a truncated or mis-scaled timestamp ` +
        '(seconds or microseconds where milliseconds belong?)',
    );
  if (ts > opts.now + opts.maxFutureMs)
    return reject(
      'future_timestamp',
      `"${names.ts}" ${new Date(ts).toISOString()} is more than ${Math.round(opts.maxFutureMs / 1000)} s in the future`,
    );
  if (opts.maxAgeMs !== undefined && ts < opts.now - opts.maxAgeMs)
    return reject(
      'too_old',
      `"${names.ts}" ${new Date(ts).toISOString()} is more than ${Math.round(opts.maxAgeMs / 86_400_000)} days ` +
        'old (FW_EVENT_MAX_AGE_MS): older than any history funnelwatch keeps',
    );
  const id = idIn === undefined || idIn === null ? '' : idIn;
  if (typeof id !== 'string' && typeof id !== 'number')
    return reject('wrong_type', `"${names.id}" must be a string, got ${typeName(id)}`);
  let entity = entityIn === undefined || entityIn === null ? '' : entityIn;
  if (typeof entity === 'number') entity = String(entity);
  if (typeof entity !== 'string')
    return reject('wrong_type', `"${names.entity}" must be a string, got ${typeName(entity)}`);
  const attrsIn = attrsRaw === undefined || attrsRaw === null ? NO_ATTRS : attrsRaw;
  if (typeof attrsIn !== 'object' || Array.isArray(attrsIn))
    return reject('wrong_type', `"${names.attrs}" must be an object, got ${typeName(attrsIn)}`);
  let attrs: Record<string, string>;
  if (usableAsIs(attrsIn as Record<string, unknown>, opts)) attrs = attrsIn as Record<string, string>;
  else {
    attrs = {};
    const tooLong = flatten(attrsIn as Record<string, unknown>, '', attrs, opts, 0, { n: 0 });
    if (tooLong) return reject('field_too_long', tooLong);
  }
  const idStr = String(id);
  const max = opts.maxFieldLength;
  if (type.length > max)
    return reject('field_too_long', `"${names.type}" is ${type.length} characters; the limit is ${max}`);
  if (idStr.length > max)
    return reject('field_too_long', `"${names.id}" is ${idStr.length} characters; the limit is ${max}`);
  if (entity.length > max)
    return reject('field_too_long', `"${names.entity}" is ${entity.length} characters; the limit is ${max}`);
  return { ok: true, envelope, event: { id: idStr, type, ts, entity, attrs } };
}

/**
 * True when the attributes are already what `flatten` would produce: own string values only, within the limits.
 * Most producers send exactly that, and keeping the decoded object saves a copy of every event's attributes (the
 * batch holds its events until Redis has them, so each copy would also be carried through garbage collections).
 */
function usableAsIs(o: Record<string, unknown>, opts: ParseOptions): boolean {
  let n = 0;
  for (const k in o) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) return false;
    const v = o[k];
    if (typeof v !== 'string' || v.length > opts.maxFieldLength || k.length > opts.maxFieldLength) return false;
    if (++n > opts.maxAttrs) return false;
  }
  return true;
}

/** Flattens nested objects with dots; keeps scalars as strings. Returns a message when a limit is exceeded. */
function flatten(
  o: Record<string, unknown>,
  prefix: string,
  out: Record<string, string>,
  opts: ParseOptions,
  depth: number,
  kept: { n: number },
): string | null {
  for (const k in o) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
    const v = o[k];
    const key = prefix === '' ? k : prefix + k;
    if (v === null || v === undefined) continue;
    if (typeof v === 'object') {
      if (Array.isArray(v) || depth >= 3) continue; // arrays and deeper structure are never a funnel dimension
      const r = flatten(v as Record<string, unknown>, `${key}.`, out, opts, depth + 1, kept);
      if (r) return r;
      continue;
    }
    const s = typeof v === 'string' ? v : String(v);
    if (key.length > opts.maxFieldLength)
      return `attribute name "${key.slice(0, 40)}…" is ${key.length} characters; the limit is ${opts.maxFieldLength}`;
    if (s.length > opts.maxFieldLength)
      return `attribute "${key}" is ${s.length} characters; the limit is ${opts.maxFieldLength}`;
    if (!(key in out)) {
      if (kept.n >= opts.maxAttrs) return `more than ${opts.maxAttrs} attributes`;
      kept.n++;
    }
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
