/**
 * Real loopback HTTP servers (node:http on 127.0.0.1, a free port) that stand in for PagerDuty and for webhook
 * receivers in tests. No HTTP mocking: the receivers' real undici clients, timeouts and sockets are exercised.
 *
 * ## startRecordingServer(handler?) → RecordingServer        (generic; webhook tests)
 *   url                  base URL, e.g. http://127.0.0.1:41234 (any path is accepted)
 *   requests             every request received, in arrival order (RecordedRequest below)
 *   fail(times, resp)    the next `times` requests get `resp` instead of the handler's answer; calls queue up.
 *                        resp: { status, headers?, body? } (body: string, or an object sent as JSON)
 *                              | { status: 429, retryAfter?: number | string }   (→ Retry-After header)
 *                              | { status: 400, errors: string[] }               (→ PagerDuty-style error body)
 *                              | { hang: true }   never answered (the client's timeout or disconnect ends it)
 *   holdNext(opts?)      the next request is received but not answered until `release()` or the client goes away;
 * returns HeldRequest { received: Promise<RecordedRequest>, release(resp?), gone: Promise<void> }.
 *                        opts.apply: 'on-release' (default: the handler runs, i.e. the event takes effect, only at
 *                        release; a client that disconnects first leaves no effect) or 'on-receipt' (the handler runs
 *                        at once, the answer is held: "accepted, but the answer was lost"). Holds take precedence
 *                        over fail(); both queue in call order.
 *   waitForRequests(n, timeoutMs?)  resolves once `n` requests were received (not necessarily answered)
 *   close()              destroys open connections (held and hanging ones included) and stops listening
 *
 *   RecordedRequest: { seq, at (ms, Date.now()), method, path, headers, raw (body text), json (parsed or undefined),
 *     status (answered or to be answered; undefined while held or hanging), answered (true once the whole answer was
 *     written to the socket; false for held, hanging or abandoned requests), held, scripted (answered by fail()),
 *     closedEarly (the client disconnected before the answer) }
 *
 *   The default handler answers 200 `{"ok":true}`. A handler gets the RecordedRequest and returns an answer
 *   { status, headers?, body? } or { hang: true }.
 *
 * ## startFakePagerDuty(opts?) → FakePagerDuty extends RecordingServer     (Events API v2, POST /v2/enqueue)
 *   opts.eventsPerMinute (default 120; false: no limit): valid events per routing key are a token bucket of that
 *     size refilled at that rate, as PagerDuty's ~120 events a minute per integration; an empty bucket answers 429
 *     (throttle event) with Retry-After and pauses the key until then: an event inside the pause is answered 429
 *     again and recorded in `calledWhilePaused`. `pauses` lists { routingKey, from, until } (ms). throttle(n, s)
 *     answers the next n valid events 429 Retry-After s and pauses their key that long, as the fake's own limit
 *     does (fail() with a 429 answers once and keeps no pause).
 *   opts.processingDelayMs (default 50): PagerDuty processes events asynchronously: the 202 comes at once, the
 *     event is applied (incidents, `events`) that long after, in arrival order. `settled()` resolves once every
 *     event accepted so far has been applied: await it before reading `incidents` or `events`.
 *   Validates like the real API (research §1.2, §1.4, the delivery audit): body ≤ 512,000 bytes (else 400, as
 *   the real Events API answers an oversized event, not 413); JSON (else 400 "Unrecognized
 *   object"); routing_key a 32-character string; event_action trigger | acknowledge | resolve; dedup_key ≤ 255
 *   characters, required for acknowledge/resolve; a trigger needs payload.summary (1..1024 characters), source, and
 *   severity critical | error | warning | info; links need href. Invalid → 400 {status:'invalid event', message:
 *   'Event object is invalid', errors:[…]}. Valid → 202 {status:'success', message:'Event processed', dedup_key}.
 *   Incidents are kept per (routing key, dedup_key) like PagerDuty: a trigger opens an incident, or, on an open one,
 *   counts as an update (no new incident, no new page); resolve closes it; acknowledge marks it acknowledged; a
 *   resolve/acknowledge of an unknown or closed key is dropped (still 202). A trigger after a resolve opens a new
 *   incident with the same key.
 *   incidents            every incident ever opened, oldest first (FakeIncident below)
 *   incident(dedupKey, routingKey?)  the newest incident with that key (and routing key, when given)
 *   open()               incidents currently open or acknowledged
 *   events               the accepted events, in order: { request, action, dedupKey, routingKey, effect }
 *                        effect: 'opened' | 'updated' | 'resolved' | 'acknowledged' | 'dropped'
 *
 *   FakeIncident: { routingKey, dedupKey, status: 'open'|'acknowledged'|'resolved', triggers (trigger events
 *     applied, the opening one included), updates (triggers − 1), openedAt, resolvedAt?, summary, severity,
 *     payload (the newest trigger's), resolvePayload? (what the resolve carried) }
 *
 *   Change events (research §1.8), POST /v2/change/enqueue: routing_key a 32-character string; payload.summary
 *   1..1024 characters; payload.timestamp, when given, a time; links need href. Invalid → 400 as above; valid → 202
 *   {status:'success', message:'Change event processed'}. They open nothing.
 *   changes              the accepted change events, in order: { request, routingKey, payload, links }
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';

export interface RecordedRequest {
  seq: number;
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  json: unknown;
  status?: number;
  answered: boolean;
  held: boolean;
  scripted: boolean;
  closedEarly: boolean;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export type Scripted =
  | { hang: true }
  | { status: 429; retryAfter?: number | string; body?: unknown }
  | { status: 400; errors: string[] }
  | Answer;

export type Handler = (req: RecordedRequest) => Answer | { hang: true } | Promise<Answer | { hang: true }>;

export interface HeldRequest {
  /** Resolves when the held request has arrived (body read). */
  received: Promise<RecordedRequest>;
  /** Answers it: with `resp`, else with what the handler says. No effect once the client has gone. */
  release(resp?: Answer): void;
  /** Resolves when the client disconnected before an answer was written. */
  gone: Promise<void>;
}

export interface RecordingServer {
  url: string;
  requests: RecordedRequest[];
  fail(times: number, response: Scripted): void;
  holdNext(opts?: { apply?: 'on-release' | 'on-receipt' }): HeldRequest;
  waitForRequests(n: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  close(): Promise<void>;
}

interface Hold {
  apply: 'on-release' | 'on-receipt';
  onReceived: (r: RecordedRequest) => void;
  onGone: () => void;
  /** Set once the request is in: how to answer it. */
  answer?: (resp?: Answer) => void;
  early?: Answer;
  released?: { resp?: Answer };
}

function toAnswer(s: Scripted): Answer | { hang: true } {
  if ('hang' in s) return s;
  if ('errors' in s)
    return { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors: s.errors } };
  if ('retryAfter' in s && s.retryAfter !== undefined) {
    return {
      status: s.status,
      headers: { 'retry-after': String(s.retryAfter) },
      body: s.body ?? {
        status: 'throttle event',
        message: 'Requests for this service are arriving too quickly.  Please retry later.',
      },
    };
  }
  return s.status === 429 && s.body === undefined
    ? {
        status: 429,
        body: {
          status: 'throttle event',
          message: 'Requests for this service are arriving too quickly.  Please retry later.',
        },
      }
    : s;
}

/** A loopback server that records every request and answers as `handler` (or the scripts) say. */
export async function startRecordingServer(
  handler: Handler = () => ({ status: 200, body: { ok: true } }),
): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  const scripts: Scripted[] = [];
  const holds: Hold[] = [];
  const sockets = new Set<Socket>();
  const waiters: (() => void)[] = [];

  const write = (rec: RecordedRequest, res: ServerResponse, a: Answer): void => {
    rec.status = a.status;
    if (res.destroyed || res.writableEnded) return;
    const isText = typeof a.body === 'string';
    const text = a.body === undefined ? '' : isText ? (a.body as string) : JSON.stringify(a.body);
    const headers: Record<string, string> = {
      ...(a.body !== undefined ? { 'content-type': isText ? 'text/plain' : 'application/json' } : {}),
      ...a.headers,
    };
    res.writeHead(a.status, headers);
    res.end(text, () => {
      if (!rec.closedEarly) rec.answered = true;
    });
  };

  const answerWith = async (
    rec: RecordedRequest,
    res: ServerResponse,
    a: Answer | { hang: true } | undefined,
  ): Promise<void> => {
    if (a === undefined) a = await handler(rec);
    if ('hang' in a) return;
    write(rec, res, a);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        json = undefined;
      }
      const rec: RecordedRequest = {
        seq: requests.length,
        at: Date.now(),
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        raw,
        json,
        answered: false,
        held: false,
        scripted: false,
        closedEarly: false,
      };
      requests.push(rec);
      for (const w of waiters.splice(0)) w();
      res.on('close', () => {
        if (!res.writableFinished) rec.closedEarly = true;
      });

      const hold = holds.shift();
      if (hold) {
        rec.held = true;
        res.on('close', () => {
          if (!res.writableFinished) hold.onGone();
        });
        const go = async (): Promise<void> => {
          if (hold.apply === 'on-receipt') {
            const a = await handler(rec);
            if (!('hang' in a)) hold.early = a;
          }
          hold.answer = (resp?: Answer) => {
            // A client that already went away gets nothing, and with 'on-release' its event never took effect.
            if (rec.closedEarly || res.destroyed) return;
            void answerWith(rec, res, resp ?? hold.early);
          };
          hold.onReceived(rec);
          if (hold.released) hold.answer(hold.released.resp);
        };
        void go();
        return;
      }
      const script = scripts.shift();
      if (script) {
        rec.scripted = true;
        void answerWith(rec, res, toAnswer(script));
        return;
      }
      void answerWith(rec, res, undefined).catch((err: unknown) => {
        write(rec, res, { status: 500, body: `fake server handler failed: ${String(err)}` });
      });
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    fail(times: number, response: Scripted): void {
      for (let i = 0; i < times; i++) scripts.push(response);
    },
    holdNext(opts = {}): HeldRequest {
      let onReceived!: (r: RecordedRequest) => void;
      let onGone!: () => void;
      const received = new Promise<RecordedRequest>((r) => (onReceived = r));
      const gone = new Promise<void>((r) => (onGone = r));
      const hold: Hold = { apply: opts.apply ?? 'on-release', onReceived, onGone };
      holds.push(hold);
      return {
        received,
        gone,
        release(resp?: Answer): void {
          if (hold.answer) hold.answer(resp);
          else hold.released = { resp };
        },
      };
    },
    async waitForRequests(n: number, timeoutMs = 10_000): Promise<RecordedRequest[]> {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${n} requests, got ${requests.length}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return requests.slice(0, n);
    },
    async close(): Promise<void> {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface FakeIncident {
  routingKey: string;
  dedupKey: string;
  status: 'open' | 'acknowledged' | 'resolved';
  triggers: number;
  updates: number;
  openedAt: number;
  resolvedAt?: number;
  summary: string;
  severity: string;
  payload: Record<string, unknown>;
  resolvePayload?: Record<string, unknown>;
}

export interface FakeEvent {
  request: RecordedRequest;
  action: 'trigger' | 'acknowledge' | 'resolve';
  dedupKey: string;
  routingKey: string;
  effect: 'opened' | 'updated' | 'resolved' | 'acknowledged' | 'dropped';
}

export interface FakeChangeEvent {
  request: RecordedRequest;
  routingKey: string;
  payload: Record<string, unknown>;
  links: unknown[];
}

export interface FakePagerDutyOptions {
  eventsPerMinute?: number | false;
  processingDelayMs?: number;
}

export interface FakePagerDutyPause {
  routingKey: string;
  from: number;
  until: number;
}

export interface FakePagerDuty extends RecordingServer {
  pauses: FakePagerDutyPause[];
  calledWhilePaused: RecordedRequest[];
  settled(): Promise<void>;
  /** The next `times` valid events are answered 429 Retry-After `seconds`, each pausing its key that long. */
  throttle(times: number, seconds: number): void;
  incidents: FakeIncident[];
  events: FakeEvent[];
  changes: FakeChangeEvent[];
  incident(dedupKey: string, routingKey?: string): FakeIncident | undefined;
  open(): FakeIncident[];
}

const MAX_BYTES = 512_000;
const SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);
const ACTIONS = new Set(['trigger', 'acknowledge', 'resolve']);

function chars(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function invalid(errors: string[]): Answer {
  return { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors } };
}

/** The errors PagerDuty would list for this event; empty when valid. */
function validate(ev: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const rk = ev.routing_key;
  if (typeof rk !== 'string' || rk === '') errors.push("'routing_key' is missing or blank");
  else if (chars(rk) !== 32) errors.push('Service key is the wrong length (should be 32 characters)');
  const action = ev.event_action;
  if (typeof action !== 'string' || !ACTIONS.has(action)) errors.push("'event_action' is missing or invalid");
  const dk = ev.dedup_key;
  if (dk !== undefined && dk !== null) {
    if (typeof dk !== 'string') errors.push("'dedup_key' must be a string");
    else if (chars(dk) > 255) errors.push("'dedup_key' is too long (maximum is 255 characters)");
  } else if (action === 'acknowledge' || action === 'resolve') errors.push("'dedup_key' is missing or blank");
  if (action === 'trigger') {
    const p = ev.payload;
    if (!p || typeof p !== 'object' || Array.isArray(p)) errors.push("'payload' is missing or invalid");
    else {
      const pl = p as Record<string, unknown>;
      if (typeof pl.summary !== 'string' || pl.summary.trim() === '') errors.push("'summary' is missing or blank");
      else if (chars(pl.summary) > 1024) errors.push("'summary' is too long (maximum is 1024 characters)");
      if (typeof pl.source !== 'string' || pl.source.trim() === '') errors.push("'source' is missing or blank");
      if (typeof pl.severity !== 'string' || !SEVERITIES.has(pl.severity))
        errors.push("'severity' is missing or invalid");
      if (
        pl.timestamp !== undefined &&
        (typeof pl.timestamp !== 'string' || !Number.isFinite(Date.parse(pl.timestamp)))
      ) {
        errors.push("'timestamp' is invalid");
      }
    }
  }
  if (ev.links !== undefined) {
    if (!Array.isArray(ev.links)) errors.push("'links' must be an array");
    else
      for (const l of ev.links)
        if (!l || typeof (l as { href?: unknown }).href !== 'string' || (l as { href: string }).href === '')
          errors.push("'link href' is missing or blank");
  }
  return errors;
}

/** The errors PagerDuty would list for this change event; empty when valid. */
function validateChange(ev: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const rk = ev.routing_key;
  if (typeof rk !== 'string' || rk === '') errors.push("'routing_key' is missing or blank");
  else if (chars(rk) !== 32) errors.push('Service key is the wrong length (should be 32 characters)');
  const p = ev.payload;
  if (!p || typeof p !== 'object' || Array.isArray(p)) errors.push("'payload' is missing or invalid");
  else {
    const pl = p as Record<string, unknown>;
    if (typeof pl.summary !== 'string' || pl.summary.trim() === '') errors.push("'summary' is missing or blank");
    else if (chars(pl.summary) > 1024) errors.push("'summary' is too long (maximum is 1024 characters)");
    if (pl.timestamp !== undefined && (typeof pl.timestamp !== 'string' || !Number.isFinite(Date.parse(pl.timestamp))))
      errors.push("'timestamp' is invalid");
  }
  if (ev.links !== undefined) {
    if (!Array.isArray(ev.links)) errors.push("'links' must be an array");
    else
      for (const l of ev.links)
        if (!l || typeof (l as { href?: unknown }).href !== 'string' || (l as { href: string }).href === '')
          errors.push("'link href' is missing or blank");
  }
  return errors;
}

/** A fake PagerDuty Events API v2 (see the module header). */
export async function startFakePagerDuty(opts: FakePagerDutyOptions = {}): Promise<FakePagerDuty> {
  const perMinute = opts.eventsPerMinute ?? 120;
  const delayMs = opts.processingDelayMs ?? 50;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const pauses: FakePagerDutyPause[] = [];
  const calledWhilePaused: RecordedRequest[] = [];
  /** throttle(): Retry-After seconds for the next valid events, each pausing its key. */
  const throttleNext: number[] = [];
  const pending = new Map<NodeJS.Timeout, Promise<void>>();
  const throttled = (seconds: number): Answer => toAnswer({ status: 429, retryAfter: seconds }) as Answer;
  /** The 429 for an event of `routingKey` arriving now when the key is out of events, else undefined. */
  const rateLimited = (routingKey: string, req: RecordedRequest): Answer | undefined => {
    if (perMinute === false) return undefined;
    const pause = pauses.findLast((p) => p.routingKey === routingKey);
    if (pause && req.at < pause.until) {
      calledWhilePaused.push(req);
      return throttled(Math.ceil((pause.until - req.at) / 1000));
    }
    const forced = throttleNext.shift();
    if (forced !== undefined) {
      pauses.push({ routingKey, from: req.at, until: req.at + forced * 1000 });
      return throttled(forced);
    }
    const perSecond = perMinute / 60;
    const b = buckets.get(routingKey) ?? { tokens: perMinute, at: req.at };
    b.tokens = Math.min(perMinute, b.tokens + ((req.at - b.at) / 1000) * perSecond);
    b.at = req.at;
    buckets.set(routingKey, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    const seconds = Math.max(1, Math.ceil((1 - b.tokens) / perSecond));
    pauses.push({ routingKey, from: req.at, until: req.at + seconds * 1000 });
    return throttled(seconds);
  };
  const incidents: FakeIncident[] = [];
  const events: FakeEvent[] = [];
  const find = (dedupKey: string, routingKey?: string): FakeIncident | undefined => {
    for (let i = incidents.length - 1; i >= 0; i--) {
      const x = incidents[i]!;
      if (x.dedupKey === dedupKey && (routingKey === undefined || x.routingKey === routingKey)) return x;
    }
    return undefined;
  };

  const changes: FakeChangeEvent[] = [];
  const handler: Handler = (req) => {
    if (req.path === '/v2/change/enqueue' && req.method === 'POST') {
      if (req.json === undefined || typeof req.json !== 'object' || req.json === null || Array.isArray(req.json)) {
        return {
          status: 400,
          body: {
            status: 'Unrecognized object',
            message: 'Event object format is unrecognized',
            errors: ['JSON parse error'],
          },
        };
      }
      const ev = req.json as Record<string, unknown>;
      const errors = validateChange(ev);
      if (errors.length > 0) return invalid(errors);
      changes.push({
        request: req,
        routingKey: ev.routing_key as string,
        payload: ev.payload as Record<string, unknown>,
        links: (ev.links as unknown[] | undefined) ?? [],
      });
      return { status: 202, body: { status: 'success', message: 'Change event processed' } };
    }
    if (req.path !== '/v2/enqueue') return { status: 404, body: { status: 'not found', message: 'Not Found' } };
    if (req.method !== 'POST')
      return { status: 405, body: { status: 'method not allowed', message: 'Method Not Allowed' } };
    if (Buffer.byteLength(req.raw, 'utf8') > MAX_BYTES)
      return {
        status: 400,
        body: { status: 'invalid event', message: 'Event object is invalid', errors: ['Event is too large'] },
      };
    if (req.json === undefined || typeof req.json !== 'object' || req.json === null || Array.isArray(req.json)) {
      return {
        status: 400,
        body: {
          status: 'Unrecognized object',
          message: 'Event object format is unrecognized',
          errors: ['JSON parse error'],
        },
      };
    }
    const ev = req.json as Record<string, unknown>;
    const errors = validate(ev);
    if (errors.length > 0) return invalid(errors);
    const action = ev.event_action as FakeEvent['action'];
    const routingKey = ev.routing_key as string;
    const limited = rateLimited(routingKey, req);
    if (limited) return limited;
    const dedupKey = typeof ev.dedup_key === 'string' ? ev.dedup_key : randomUUID().replace(/-/g, '');
    const payload = (ev.payload ?? {}) as Record<string, unknown>;
    const apply = (): void => applyEvent(req, ev, action, routingKey, dedupKey, payload);
    if (delayMs <= 0) apply();
    else {
      // Equal delays fire in arrival order, so events of one key apply in the order they were accepted.
      let t!: NodeJS.Timeout;
      const done = new Promise<void>((resolve) => {
        t = setTimeout(() => {
          pending.delete(t);
          apply();
          resolve();
        }, delayMs);
      });
      pending.set(t, done);
    }
    return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: dedupKey } };
  };

  const applyEvent = (
    req: RecordedRequest,
    ev: Record<string, unknown>,
    action: FakeEvent['action'],
    routingKey: string,
    dedupKey: string,
    payload: Record<string, unknown>,
  ): void => {
    // Events apply only to an open alert reached through the same routing key (research §1.7).
    const current = find(dedupKey, routingKey);
    const live = current && current.status !== 'resolved' ? current : undefined;
    let effect: FakeEvent['effect'];
    if (action === 'trigger') {
      if (live) {
        live.triggers++;
        live.updates++;
        live.payload = payload;
        effect = 'updated';
      } else {
        incidents.push({
          routingKey,
          dedupKey,
          status: 'open',
          triggers: 1,
          updates: 0,
          openedAt: req.at,
          summary: String(payload.summary),
          severity: String(payload.severity),
          payload,
        });
        effect = 'opened';
      }
    } else if (action === 'resolve') {
      if (live) {
        live.status = 'resolved';
        live.resolvedAt = req.at;
        if (ev.payload) live.resolvePayload = payload;
        effect = 'resolved';
      } else effect = 'dropped';
    } else if (live) {
      live.status = 'acknowledged';
      effect = 'acknowledged';
    } else effect = 'dropped';
    events.push({ request: req, action, dedupKey, routingKey, effect });
  };

  const base = await startRecordingServer(handler);
  const closeServer = base.close;
  return Object.assign(base, {
    throttle: (times: number, seconds: number): void => {
      for (let i = 0; i < times; i++) throttleNext.push(seconds);
    },
    pauses,
    calledWhilePaused,
    settled: async (): Promise<void> => {
      await Promise.all([...pending.values()]);
    },
    close: async (): Promise<void> => {
      for (const t of pending.keys()) clearTimeout(t);
      pending.clear();
      await closeServer();
    },
    incidents,
    events,
    changes,
    incident: find,
    open: () => incidents.filter((x) => x.status !== 'resolved'),
  });
}
