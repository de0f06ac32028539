/**
 * The webhook receiver: every delivery job, of every kind, as one JSON POST to a URL the user runs, for whatever
 * funnelwatch does not speak natively (chat bridges, ticketing, an in-house incident tool).
 *
 * Body (`content-type: application/json`):
 *
 *   { "version": 1, "event": "firing" | "worsened" | "reminder" | "resolved" | "delivery_failed",
 *     "receiver": "<this receiver's name>", "jobId": "<stable job id>", "alert": { …AlertTransition… },
 *     "failure": { receiver, jobId, event, code, reason }   // delivery_failed only }
 *
 * Headers: `user-agent: funnelwatch/<version>`, `idempotency-key: <jobId>` (the outbox delivers at least once: a
 * retry after a lost answer or a crash repeats the same job id, so a receiver that remembers ids can drop the
 * repeat), and, when the receiver has a `secret`:
 *
 *   x-funnelwatch-timestamp: <unix seconds when this attempt was sent>
 *   x-funnelwatch-signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *
 * How a receiver verifies it (the same scheme as Stripe's and Slack's signatures):
 *   1. Take the raw request body bytes as received, before any JSON parsing (re-serialising changes them).
 *   2. Compute hex HMAC-SHA256 with the shared secret over `${timestamp}.${rawBody}`, prefix "sha256=".
 *   3. Compare with the header in constant time (Node: crypto.timingSafeEqual), and reject a timestamp more than
 *      5 minutes from your clock: the timestamp is inside the MAC, so an old captured request cannot be replayed
 *      with a fresh timestamp. `verifyWebhookSignature` below does exactly this.
 *
 * Classification (one attempt per job; the outbox retries): 2xx ok; 408, 429, 5xx and network errors retriable
 * (Retry-After honoured, in seconds or as an HTTP date); any other status (3xx, 4xx) permanent, with the first 200
 * characters of the answer in the reason, because the same request will be refused again.
 *
 * This module also holds the small HTTP helpers the PagerDuty receiver shares (Retry-After, capped body reads,
 * transport errors): the webhook is the generic HTTP receiver.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Agent, request, type Dispatcher } from 'undici';
import { systemClock, type Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../obs/logger.js';
import { VERSION } from '../version.js';
import type { DeliveryJob, DeliveryOutcome, Receiver } from './receiver.js';
import type { WebhookReceiverDef } from './receiver-def.js';
import { readSecret } from './secrets.js';

/** How much of an answer is read: enough for any error message; a misbehaving server cannot make us buffer more. */
export const MAX_ANSWER_BYTES = 64 * 1024;

const RETRY_AFTER_SECONDS = /^\s*(\d+(?:\.\d+)?)\s*$/;

/**
 * A Retry-After header as a delay in ms from `now`: delta-seconds ("120") or an HTTP date; a date in the past is 0;
 * undefined when absent or unreadable (the outbox's own backoff applies). Not capped here: the outbox owns the
 * upper bound on how long a job may wait.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  const secs = RETRY_AFTER_SECONDS.exec(v);
  if (secs) return Math.round(Number(secs[1]) * 1000);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/**
 * Reads at most `limit` bytes of an undici response body as text, and always finishes with the body: undici does
 * not free a connection whose body is neither consumed nor destroyed (no GC rescue as in fetch), so a skipped body
 * leaks a socket per delivery. Never throws: a body that fails mid-way yields what arrived and the error.
 */
export async function readAnswer(body: Dispatcher.ResponseData['body'], limit = MAX_ANSWER_BYTES): Promise<{ text: string; error?: unknown }> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      n += chunk.length;
      // Leaving the loop destroys the stream: the rest is not worth the bandwidth, and the socket is not reused.
      if (n >= limit) break;
    }
    return { text: Buffer.concat(chunks).subarray(0, limit).toString('utf8') };
  } catch (error) {
    if (!body.destroyed) body.destroy();
    return { text: Buffer.concat(chunks).toString('utf8'), error };
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/**
 * The outcome of a request that produced no HTTP status: timeouts and network errors are retriable (the server
 * may be back in a minute); an argument undici refuses (a malformed URL) is configuration, so permanent.
 */
export function transportFailure(prefix: string, err: unknown, timeoutMs: number): DeliveryOutcome {
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined;
  const name = (err as { name?: unknown })?.name;
  if ((code && TIMEOUT_CODES.has(code)) || name === 'TimeoutError') {
    return { ok: false, retriable: true, code: `${prefix}_TIMEOUT`, reason: `no answer within ${timeoutMs} ms (${code ?? name})` };
  }
  if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_URL') {
    return { ok: false, retriable: false, code: `${prefix}_BAD_REQUEST`, reason: `the request could not be made: ${errorMessage(err)}` };
  }
  return { ok: false, retriable: true, code: `${prefix}_NETWORK`, reason: `${errorMessage(err)}${code ? ` (${code})` : ''}` };
}

/**
 * Scheme, host and port only: webhook URLs often carry their credential in the path or query (Slack incoming
 * webhooks, signed URLs), so neither may reach a log line or a failure reason.
 */
export function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

/** One line of at most `max` characters, for a reason: answers may be HTML pages or multi-line stack traces. */
export function snippet(text: string, max = 200): string {
  const one = text.replace(/\s+/g, ' ').trim();
  const points = Array.from(one);
  return points.length > max ? `${points.slice(0, max).join('')}…` : one;
}

/** The signature header value for `body` sent at `timestamp` (unix seconds). */
export function signWebhookBody(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver does with the two headers (module header): true when `signature` is the HMAC of this exact body
 * and timestamp, and the timestamp is within `toleranceSec` of `nowMs`.
 */
export function verifyWebhookSignature(o: { secret: string; body: string; timestamp: string; signature: string; nowMs: number;
  toleranceSec?: number }): boolean {
  const ts = Number(o.timestamp);
  if (!/^\d+$/.test(o.timestamp) || Math.abs(o.nowMs / 1000 - ts) > (o.toleranceSec ?? 300)) return false;
  const want = Buffer.from(signWebhookBody(o.secret, ts, o.body));
  const got = Buffer.from(o.signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The JSON document a webhook receives. */
export interface WebhookBody {
  version: 1;
  event: DeliveryJob['event'];
  receiver: string;
  jobId: string;
  alert: DeliveryJob['alert'];
  failure?: DeliveryJob['failure'];
}

export function webhookBody(job: DeliveryJob): WebhookBody {
  const b: WebhookBody = { version: 1, event: job.event, receiver: job.receiver, jobId: job.id, alert: job.alert };
  if (job.failure) b.failure = job.failure;
  return b;
}

export interface WebhookReceiverOptions {
  def: WebhookReceiverDef;
  logger: Logger;
  /** Per attempt: connect, wait for the answer's headers, and between body chunks. Default 10,000 ms. */
  timeoutMs?: number;
  /** Where secrets in `{ env }` refs are read; process.env by default. */
  env?: Record<string, string | undefined>;
  /** For the signature timestamp and Retry-After dates. */
  clock?: Clock;
}

export class WebhookReceiver implements Receiver {
  readonly kind = 'webhook' as const;
  readonly name: string;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private agent: Agent | undefined;

  constructor(private readonly o: WebhookReceiverOptions) {
    this.name = o.def.name;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.clock = o.clock ?? systemClock;
    this.log = o.logger.child({ component: 'notify', receiver: o.def.name, kind: 'webhook' });
  }

  // A receiver's own connection pool: its timeouts apply to every connection, and close() releases exactly its
  // sockets without touching the process-wide dispatcher other code may use.
  private dispatcher(): Agent {
    this.agent ??= new Agent({ headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, connect: { timeout: this.timeoutMs } });
    return this.agent;
  }

  async deliver(job: DeliveryJob): Promise<DeliveryOutcome> {
    const url = this.o.def.url;
    const origin = safeOrigin(url);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { ok: false, retriable: false, code: 'WEBHOOK_BAD_URL', reason: `receiver ${this.name}: the url is not a valid URL` };
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      return { ok: false, retriable: false, code: 'WEBHOOK_BAD_URL', reason: `receiver ${this.name}: the url must be http(s), got ${parsed.protocol}` };
    }

    const body = JSON.stringify(webhookBody(job));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': `funnelwatch/${VERSION}`,
      'idempotency-key': job.id,
    };
    if (this.o.def.secret) {
      let secret: string;
      try {
        secret = readSecret(this.o.def.secret, this.o.env);
      } catch (err) {
        return { ok: false, retriable: false, code: 'SECRET_MISSING', reason: `receiver ${this.name}: ${errorMessage(err)}` };
      }
      // Per attempt, not per job: a retry an hour later must still pass the receiver's replay window.
      const ts = Math.floor(this.clock.now() / 1000);
      headers['x-funnelwatch-timestamp'] = String(ts);
      headers['x-funnelwatch-signature'] = signWebhookBody(secret, ts, body);
    }

    let res: Dispatcher.ResponseData;
    try {
      res = await request(parsed, {
        method: 'POST', headers, body, dispatcher: this.dispatcher(),
        headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      const out = transportFailure('WEBHOOK', err, this.timeoutMs);
      if (!out.ok) this.log.debug({ job: job.id, event: job.event, origin, code: out.code }, `webhook not reached: ${out.reason}`);
      return out;
    }
    const answer = await readAnswer(res.body);
    const status = res.statusCode;
    if (status >= 200 && status < 300) {
      this.log.debug({ job: job.id, event: job.event, origin, status }, 'webhook delivered');
      return { ok: true };
    }
    const code = `WEBHOOK_HTTP_${status}`;
    const said = snippet(answer.text);
    const reason = `${origin} answered ${status}${said ? `: ${said}` : ''}`;
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], this.clock.now());
      return retryAfterMs === undefined ? { ok: false, retriable: true, code, reason } : { ok: false, retriable: true, code, reason, retryAfterMs };
    }
    if (status >= 300 && status < 400) {
      // Not followed: a POST redirect may turn into a GET, and a signed body should go where it was configured.
      return { ok: false, retriable: false, code, reason: `${reason} (redirect${res.headers.location ? ` to ${safeOrigin(String(res.headers.location))}` : ''}: configure the final URL)` };
    }
    return { ok: false, retriable: false, code, reason };
  }

  async check(): Promise<string[]> {
    const problems: string[] = [];
    try {
      const u = new URL(this.o.def.url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') problems.push(`receiver ${this.name}: the url must be http(s), got ${u.protocol}`);
    } catch {
      problems.push(`receiver ${this.name}: the url is not a valid URL`);
    }
    if (this.o.def.secret) {
      try {
        readSecret(this.o.def.secret, this.o.env);
      } catch (err) {
        problems.push(`receiver ${this.name}: ${errorMessage(err)}`);
      }
    }
    return problems;
  }

  async close(): Promise<void> {
    const a = this.agent;
    this.agent = undefined;
    await a?.close();
  }
}
