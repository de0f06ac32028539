/**
 * Where probe events go. From `funnelwatch probe`: the daemon's ingest endpoint (POST /v1/events with the ingest
 * token), the same path any producer uses, so synthetic events are counted, deduplicated and dead-lettered like real
 * ones. A daemon that is briefly away (no answer, 429, 5xx) gets the batch again a few times with backoff; resending
 * is safe, since a step an entity already reached counts as a duplicate. A 4xx other than 429 is not retried: it will
 * not change. Inside the daemon (FW_PROBES_DIR): the same ingest target the endpoint forwards to (the events topic
 * through the daemon's one producer, or the windows directly without Kafka), after the endpoint's checks.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs, type BackoffPolicy } from '../core/backoff.js';
import { JsonPoster, safeOrigin, snippet } from '../core/outbound-http.js';
import { errorMessage } from '../core/errors.js';
import type { FwEvent } from '../events/event.js';
import type { ParseResult } from '../events/parse.js';
import type { IngestTarget } from '../ingest/http-ingest.js';

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

/** The daemon's own runner: events checked as POST /v1/events checks them, then handed to its ingest target. */
export class IngestTargetSink implements EventSink {
  constructor(
    private readonly target: IngestTarget,
    private readonly parse: (json: string) => ParseResult,
  ) {}

  async send(events: readonly FwEvent[]): Promise<SinkResult> {
    const items: { entity: string; json: string }[] = [];
    for (const e of events) {
      const json = JSON.stringify(e);
      const r = this.parse(json);
      if (!r.ok) return { ok: false, reason: `event ${e.id} rejected: ${r.reason}: ${r.detail}` };
      items.push({ entity: r.event.entity, json });
    }
    try {
      await this.target.accept(items);
      return { ok: true, accepted: items.length };
    } catch (err) {
      return { ok: false, reason: errorMessage(err) };
    }
  }

  async close(): Promise<void> {}
}
