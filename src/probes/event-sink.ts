/**
 * Where probe events go: the daemon's ingest endpoint (POST /v1/events with the ingest token), the same path any
 * producer uses, so synthetic events are counted, deduplicated and dead-lettered like real ones. A daemon that is
 * briefly away (no answer, 429, 5xx) gets the batch again a few times with backoff; resending is safe, since a
 * step an entity already reached counts as a duplicate. A 4xx other than 429 is not retried: it will not change.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs, type BackoffPolicy } from '../core/backoff.js';
import { JsonPoster, safeOrigin, snippet } from '../core/outbound-http.js';
import type { FwEvent } from '../events/event.js';

export type SinkResult = { ok: true; accepted: number } | { ok: false; reason: string };

export interface EventSink {
  send(events: readonly FwEvent[]): Promise<SinkResult>;
  close(): Promise<void>;
}

export class HttpEventSink implements EventSink {
  private readonly poster: JsonPoster;
  private readonly url: string;

  constructor(
    daemonUrl: string,
    private readonly token: string | undefined,
    timeoutMs = 10_000,
    private readonly retry: { attempts: number; policy: BackoffPolicy } = {
      attempts: 3,
      policy: { baseMs: 500, capMs: 5_000, jitter: 'equal' },
    },
  ) {
    this.url = `${daemonUrl.replace(/\/$/, '')}/v1/events`;
    this.poster = new JsonPoster('PROBE_INGEST', timeoutMs);
  }

  async send(events: readonly FwEvent[]): Promise<SinkResult> {
    if (events.length === 0) return { ok: true, accepted: 0 };
    let last: SinkResult & { retriable: boolean } = { ok: false, reason: 'not sent', retriable: false };
    for (let attempt = 0; attempt < this.retry.attempts; attempt++) {
      if (attempt > 0) await sleep(backoffMs(attempt - 1, this.retry.policy, Math.random));
      last = await this.sendOnce(events);
      if (last.ok || !last.retriable) break;
    }
    const { retriable: _, ...result } = last;
    return result;
  }

  private async sendOnce(events: readonly FwEvent[]): Promise<SinkResult & { retriable: boolean }> {
    const headers: Record<string, string> = this.token ? { authorization: `Bearer ${this.token}` } : {};
    const answer = await this.poster.post(this.url, JSON.stringify(events), headers);
    const where = `${safeOrigin(this.url)}/v1/events`;
    if (!answer.ok) return { ok: false, reason: `${where}: ${answer.reason}`, retriable: answer.retriable };
    if (answer.status !== 200) {
      const retriable = answer.status === 429 || answer.status >= 500;
      return { ok: false, reason: `${where} answered ${answer.status}: ${snippet(answer.text)}`, retriable };
    }
    let body: { accepted?: number; rejected?: number; errors?: unknown[] };
    try {
      body = JSON.parse(answer.text) as typeof body;
    } catch {
      return {
        ok: false,
        reason: `${where} answered 200 without JSON: is it the funnelwatch daemon?`,
        retriable: false,
      };
    }
    if ((body.rejected ?? 0) > 0) {
      const reason = `${where} rejected ${body.rejected} event(s): ${snippet(JSON.stringify(body.errors))}`;
      return { ok: false, reason, retriable: false };
    }
    return { ok: true, accepted: body.accepted ?? events.length, retriable: false };
  }

  close(): Promise<void> {
    return this.poster.close();
  }
}
