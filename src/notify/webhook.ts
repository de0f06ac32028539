/**
 * The webhook receiver: every delivery job, of every kind, as one JSON POST to a URL the user runs, for whatever
 * funnelwatch does not speak natively (chat bridges, ticketing, an in-house incident tool).
 *
 * Body (`content-type: application/json`): Alertmanager's webhook payload version 4 (alertmanager-format.ts; its
 * JSON Schema is docs/alertmanager-webhook-v4.schema.json), one alert per member of the incident group, so
 * anything that takes Alertmanager's webhooks takes ours; plus fields of our own that Alertmanager consumers
 * ignore:
 *
 *   { "version": "4", "groupKey", "truncatedAlerts", "status": "firing" | "resolved", "receiver", "groupLabels",
 *     "commonLabels", "commonAnnotations", "externalURL", "alerts": [{ status, labels, annotations, startsAt,
 *     endsAt, generatorURL, fingerprint }],
 *     "event": "firing" | "updated" | "reminder" | "resolved" | "delivery_failed" | "delivery_recovered"
 *              | "gate_verdict",
 *     "jobId": "<stable job id>",
 *     "failure": { receiver, jobId, event, code, reason }   // the self-alert's: delivery_failed, delivery_recovered
 *     "gate": { gate, canary, baseline, verdict, reason, explanation, effect, … } }   // gate_verdict only
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
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import { JsonPoster, parseRetryAfter, safeOrigin, snippet } from '../core/outbound-http.js';
import type { Logger } from '../obs/logger.js';
import { VERSION } from '../core/version.js';
import type { DeliveryJob, DeliveryOutcome, Receiver } from './receiver.js';
import type { WebhookReceiverDef } from '../rules/receiver-def.js';
import { webhookV4, type WebhookV4 } from './alertmanager-format.js';
import { trySecret } from '../core/secrets.js';

/** The signature header value for `body` sent at `timestamp` (unix seconds). */
export function signWebhookBody(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver does with the two headers (module header): true when `signature` is the HMAC of this exact body
 * and timestamp, and the timestamp is within `toleranceSec` of `nowMs`.
 */
export function verifyWebhookSignature(o: {
  secret: string;
  body: string;
  timestamp: string;
  signature: string;
  nowMs: number;
  toleranceSec?: number;
}): boolean {
  const ts = Number(o.timestamp);
  if (!/^\d+$/.test(o.timestamp) || Math.abs(o.nowMs / 1000 - ts) > (o.toleranceSec ?? 300)) return false;
  const want = Buffer.from(signWebhookBody(o.secret, ts, o.body));
  const got = Buffer.from(o.signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The JSON document a webhook receives: Alertmanager's v4 message and our extensions. */
export interface WebhookBody extends WebhookV4 {
  event: DeliveryJob['event'];
  jobId: string;
  failure?: DeliveryJob['failure'];
  gate?: DeliveryJob['gate'];
}

export function webhookBody(job: DeliveryJob): WebhookBody {
  const b: WebhookBody = { ...webhookV4(job), event: job.event, jobId: job.id };
  if (job.failure) b.failure = job.failure;
  if (job.gate) b.gate = job.gate;
  return b;
}

/**
 * What an answer to one POST means (the webhook and Alertmanager receivers): 2xx ok; 408, 429, 5xx retriable
 * (Retry-After honoured); a redirect or any other 4xx permanent, with the start of the answer in the reason.
 */
export function classifyHttpAnswer(
  res: { status: number; text: string; headers: Record<string, string | string[] | undefined> },
  origin: string,
  prefix: string,
  now: number,
): DeliveryOutcome {
  const status = res.status;
  if (status >= 200 && status < 300) return { ok: true };
  const code = `${prefix}_HTTP_${status}`;
  const said = snippet(res.text);
  const reason = `${origin} answered ${status}${said ? `: ${said}` : ''}`;
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'], now);
    return retryAfterMs === undefined
      ? { ok: false, retriable: true, code, reason }
      : { ok: false, retriable: true, code, reason, retryAfterMs };
  }
  if (status >= 300 && status < 400) {
    // Not followed: a POST redirect may turn into a GET, and a signed body should go where it was configured.
    const location = res.headers.location;
    return {
      ok: false,
      retriable: false,
      code,
      reason: `${reason} (redirect${location ? ` to ${safeOrigin(String(location))}` : ''}: configure the final URL)`,
    };
  }
  return { ok: false, retriable: false, code, reason };
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
  private readonly clock: Clock;
  private readonly http: JsonPoster;

  constructor(private readonly o: WebhookReceiverOptions) {
    this.name = o.def.name;
    this.http = new JsonPoster('WEBHOOK', o.timeoutMs ?? 10_000);
    this.clock = o.clock ?? systemClock;
    this.log = o.logger.child({ component: 'notify', receiver: o.def.name, kind: 'webhook' });
  }

  async deliver(job: DeliveryJob): Promise<DeliveryOutcome> {
    const url = this.o.def.url;
    const origin = safeOrigin(url);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return {
        ok: false,
        retriable: false,
        code: 'WEBHOOK_BAD_URL',
        reason: `receiver ${this.name}: the url is not a valid URL`,
      };
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      return {
        ok: false,
        retriable: false,
        code: 'WEBHOOK_BAD_URL',
        reason: `receiver ${this.name}: the url must be http(s), got ${parsed.protocol}`,
      };
    }

    const body = JSON.stringify(webhookBody(job));
    const headers: Record<string, string> = {
      'user-agent': `funnelwatch/${VERSION}`,
      'idempotency-key': job.id,
    };
    if (this.o.def.secret) {
      const read = trySecret(this.o.def.secret, this.o.env);
      if (!read.ok) return { ...read, reason: `receiver ${this.name}: ${read.reason}` };
      const secret = read.value;
      // Per attempt, not per job: a retry an hour later must still pass the receiver's replay window.
      const ts = Math.floor(this.clock.now() / 1000);
      headers['x-funnelwatch-timestamp'] = String(ts);
      headers['x-funnelwatch-signature'] = signWebhookBody(secret, ts, body);
    }

    const res = await this.http.post(parsed, body, headers);
    if (!res.ok) {
      this.log.debug({ job: job.id, event: job.event, origin, code: res.code }, `webhook not reached: ${res.reason}`);
      return res;
    }
    const outcome = classifyHttpAnswer(res, origin, 'WEBHOOK', this.clock.now());
    if (outcome.ok) this.log.debug({ job: job.id, event: job.event, origin, status: res.status }, 'webhook delivered');
    return outcome;
  }

  async check(): Promise<string[]> {
    const problems: string[] = [];
    try {
      const u = new URL(this.o.def.url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:')
        problems.push(`receiver ${this.name}: the url must be http(s), got ${u.protocol}`);
    } catch {
      problems.push(`receiver ${this.name}: the url is not a valid URL`);
    }
    const secret = this.o.def.secret ? trySecret(this.o.def.secret, this.o.env) : undefined;
    if (secret && !secret.ok) problems.push(`receiver ${this.name}: ${secret.reason}`);
    return problems;
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
