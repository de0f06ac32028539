/**
 * Where probe events go: the daemon's ingest endpoint (POST /v1/events with the ingest token), the same path any
 * producer uses, so synthetic events are counted, deduplicated and dead-lettered like real ones.
 */
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
  ) {
    this.url = `${daemonUrl.replace(/\/$/, '')}/v1/events`;
    this.poster = new JsonPoster('PROBE_INGEST', timeoutMs);
  }

  async send(events: readonly FwEvent[]): Promise<SinkResult> {
    if (events.length === 0) return { ok: true, accepted: 0 };
    const headers: Record<string, string> = this.token ? { authorization: `Bearer ${this.token}` } : {};
    const answer = await this.poster.post(this.url, JSON.stringify(events), headers);
    const where = `${safeOrigin(this.url)}/v1/events`;
    if (!answer.ok) return { ok: false, reason: `${where}: ${answer.reason}` };
    if (answer.status !== 200)
      return { ok: false, reason: `${where} answered ${answer.status}: ${snippet(answer.text)}` };
    const body = JSON.parse(answer.text) as { accepted?: number; rejected?: number; errors?: unknown[] };
    if ((body.rejected ?? 0) > 0) {
      return {
        ok: false,
        reason: `${where} rejected ${body.rejected} event(s): ${snippet(JSON.stringify(body.errors))}`,
      };
    }
    return { ok: true, accepted: body.accepted ?? events.length };
  }

  close(): Promise<void> {
    return this.poster.close();
  }
}
