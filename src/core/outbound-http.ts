/**
 * Outbound HTTP calls to third-party APIs (the receivers: PagerDuty, webhooks; the deploy-marker senders): one JSON
 * POST through a pool of its own, Retry-After, capped body reads that always release the connection, one
 * classification of transport errors, and log-safe renderings of URLs and answers. What an answer's status means
 * stays with each caller: the APIs disagree (a webhook's 408 is worth a retry, PagerDuty's 400 never is).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request, type Dispatcher } from 'undici';
import { errorMessage } from './errors.js';

/** A request that got no HTTP answer, classified: the caller's retry machinery reads only `retriable`. */
export type TransportFailure =
  | { ok: false; retriable: true; code: string; reason: string }
  | { ok: false; retriable: false; code: string; reason: string };

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
export async function readAnswer(
  body: Dispatcher.ResponseData['body'],
  limit = MAX_ANSWER_BYTES,
): Promise<{ text: string; error?: unknown }> {
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

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

/**
 * The outcome of a request that produced no HTTP status: timeouts and network errors are retriable (the server
 * may be back in a minute); an argument undici refuses (a malformed URL) is configuration, so permanent.
 */
export function transportFailure(prefix: string, err: unknown, timeoutMs: number): TransportFailure {
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined;
  const name = (err as { name?: unknown })?.name;
  if ((code && TIMEOUT_CODES.has(code)) || name === 'TimeoutError') {
    return {
      ok: false,
      retriable: true,
      code: `${prefix}_TIMEOUT`,
      reason: `no answer within ${timeoutMs} ms (${code ?? name})`,
    };
  }
  if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_URL') {
    return {
      ok: false,
      retriable: false,
      code: `${prefix}_BAD_REQUEST`,
      reason: `the request could not be made: ${errorMessage(err)}`,
    };
  }
  return {
    ok: false,
    retriable: true,
    code: `${prefix}_NETWORK`,
    reason: `${errorMessage(err)}${code ? ` (${code})` : ''}`,
  };
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

/** A POST that got an HTTP answer, whatever its status: the body read (capped, as `readAnswer`) and the headers. */
export interface PostAnswer {
  ok: true;
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * JSON POSTs through a connection pool of their own: its timeouts (connect, the answer's headers, between body
 * chunks) hold for every connection, and close() releases exactly its sockets without touching the process-wide
 * dispatcher other code may use. Created lazily, so a sender that never sends opens nothing.
 */
export class JsonPoster {
  private agent: Agent | undefined;

  /** `failurePrefix` starts the codes of transport failures (`WEBHOOK` → `WEBHOOK_TIMEOUT`, `WEBHOOK_NETWORK`). */
  constructor(
    private readonly failurePrefix: string,
    readonly timeoutMs: number,
  ) {}

  private dispatcher(): Agent {
    this.agent ??= new Agent({
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      connect: { timeout: this.timeoutMs },
    });
    return this.agent;
  }

  /**
   * POSTs `body` (JSON text) with `content-type: application/json` and `headers`; never throws: no answer comes
   * back as a TransportFailure. The answer's body is always read, since undici keeps the connection busy until it is.
   */
  async post(
    url: string | URL,
    body: string,
    headers: Record<string, string> = {},
  ): Promise<PostAnswer | TransportFailure> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        dispatcher: this.dispatcher(),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      return transportFailure(this.failurePrefix, err, this.timeoutMs);
    }
    const answer = await readAnswer(res.body);
    return { ok: true, status: res.statusCode, headers: res.headers, text: answer.text };
  }

  async close(): Promise<void> {
    const a = this.agent;
    this.agent = undefined;
    await a?.close();
  }
}
