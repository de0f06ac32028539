/**
 * Deploy markers forwarded to PagerDuty as change events (`POST <base>/v2/change/enqueue`, research
 * ../shared/research/alerting.md §1.8), so the on-call person sees "Deploy payments-service v2.3.1 to production"
 * on the service's timeline next to the incident. Change events create no incident and page nobody.
 *
 * Best effort, by design: the marker is already stored and funnelwatch's own alerts name it, so a lost change
 * event costs context in PagerDuty, nothing more. Hence one attempt and a couple of quick retries (429, 5xx,
 * timeouts, network errors), no outbox; failures are logged and reported through `onResult` (for a metric), and
 * `send` never throws.
 *
 * The routing key is read at every send (a rotated key file is picked up without a restart) and never appears in
 * logs or results: PagerDuty error texts may quote it, so it is scrubbed from them.
 */
import { errorMessage } from '../core/errors.js';
import { backoffMs } from '../core/backoff.js';
import type { Logger } from '../obs/logger.js';
import { truncateCodePoints } from '../core/text.js';
import { trySecret, type SecretRef } from '../core/secrets.js';
import {
  PAGERDUTY_DEFAULT_URL,
  PAGERDUTY_MAX_SUMMARY,
  pagerDutyErrorText,
  pagerDutyRetriable,
} from '../core/pagerduty-api.js';
import { JsonPoster, parseRetryAfter } from '../core/outbound-http.js';
import type { Deploy } from './deploy.js';

export interface ChangeEventBody {
  routing_key: string;
  payload: {
    summary: string;
    timestamp: string;
    source: string;
    custom_details: Record<string, unknown>;
  };
  links?: { href: string; text: string }[];
}

/** The change event for a deploy. Pure. */
export function changeEventBody(deploy: Deploy, routingKey: string, opts: { source?: string } = {}): ChangeEventBody {
  const details: Record<string, unknown> = {
    service: deploy.service,
    version: deploy.version,
    environment: deploy.environment,
    deployed_at: new Date(deploy.ts).toISOString(),
    ...(deploy.commit !== undefined ? { commit: deploy.commit } : {}),
    ...(deploy.author !== undefined ? { author: deploy.author } : {}),
    ...(deploy.attrs !== undefined ? { attrs: deploy.attrs } : {}),
    funnelwatch_deploy_id: deploy.id,
  };
  return {
    routing_key: routingKey,
    payload: {
      summary: truncateCodePoints(
        `Deploy ${deploy.service} ${deploy.version} to ${deploy.environment}`,
        PAGERDUTY_MAX_SUMMARY,
      ).text,
      timestamp: new Date(deploy.ts).toISOString(),
      source: opts.source || 'funnelwatch',
      custom_details: details,
    },
    ...(deploy.url !== undefined ? { links: [{ href: deploy.url, text: `${deploy.service} ${deploy.version}` }] } : {}),
  };
}

export type ChangeEventResult =
  | { ok: true; deployId: string; attempts: number }
  | { ok: false; deployId: string; attempts: number; code: string; reason: string };

export interface PagerDutyChangeEventsOptions {
  /** Where the Events API v2 integration key is (the same kind of key alert events use). */
  routingKey: SecretRef;
  /** Default https://events.pagerduty.com; events go to `${baseUrl}/v2/change/enqueue`. */
  baseUrl?: string;
  logger: Logger;
  /** Where `{ env }` secret refs are read; process.env by default. */
  env?: Record<string, string | undefined>;
  /** `payload.source`; default `funnelwatch`. */
  source?: string;
  /** Per attempt; default 5,000 ms. */
  timeoutMs?: number;
  /** Retries after the first attempt; default 2. */
  retries?: number;
  /** Longest wait before the first retry, doubled for each next one (equal jitter: at least half); default 1,000 ms. */
  retryDelayMs?: number;
  /** Jitter source, in [0, 1). Default Math.random. */
  random?: () => number;
  /** Every send's outcome, e.g. for a counter by `ok`/`code`. */
  onResult?: (result: ChangeEventResult) => void;
}

/** Longest Retry-After honoured; a longer one means "not now", and best effort gives up. */
const MAX_RETRY_AFTER_MS = 10_000;

type Attempt = { ok: true } | { ok: false; retriable: boolean; code: string; reason: string; retryAfterMs?: number };

export class PagerDutyChangeEvents {
  private readonly url: string;
  private readonly log: Logger;
  private readonly http: JsonPoster;

  constructor(private readonly o: PagerDutyChangeEventsOptions) {
    this.url = `${(o.baseUrl ?? PAGERDUTY_DEFAULT_URL).replace(/\/+$/, '')}/v2/change/enqueue`;
    this.http = new JsonPoster('PAGERDUTY', o.timeoutMs ?? 5_000);
    this.log = o.logger.child({ component: 'pagerduty-change-events' });
  }

  /** Sends the change event for `deploy`; resolves with the outcome, never rejects. */
  async send(deploy: Deploy): Promise<ChangeEventResult> {
    const result = await this.attemptAll(deploy);
    if (result.ok) {
      this.log.debug({ deploy: deploy.id, attempts: result.attempts }, 'PagerDuty change event sent');
    } else {
      this.log.warn(
        {
          deploy: deploy.id,
          service: deploy.service,
          version: deploy.version,
          attempts: result.attempts,
          code: result.code,
          reason: result.reason,
        },
        'PagerDuty change event not sent (the deploy marker itself is stored)',
      );
    }
    try {
      this.o.onResult?.(result);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'onResult failed');
    }
    return result;
  }

  private async attemptAll(deploy: Deploy): Promise<ChangeEventResult> {
    const secret = trySecret(this.o.routingKey, this.o.env);
    if (!secret.ok) return { ok: false, deployId: deploy.id, attempts: 0, code: secret.code, reason: secret.reason };
    const key = secret.value;
    const body = JSON.stringify(changeEventBody(deploy, key, { source: this.o.source }));
    const retries = this.o.retries ?? 2;
    const backoff = { baseMs: this.o.retryDelayMs ?? 1_000, capMs: MAX_RETRY_AFTER_MS, jitter: 'equal' } as const;
    for (let attempt = 1; ; attempt++) {
      const a = await this.attempt(body);
      if (a.ok) return { ok: true, deployId: deploy.id, attempts: attempt };
      const reason = a.reason.split(key).join('[routing key]');
      const tooLong = a.retryAfterMs !== undefined && a.retryAfterMs > MAX_RETRY_AFTER_MS;
      if (!a.retriable || attempt > retries || tooLong)
        return { ok: false, deployId: deploy.id, attempts: attempt, code: a.code, reason };
      const delay = backoffMs(attempt - 1, backoff, this.o.random ?? Math.random);
      await new Promise((r) => setTimeout(r, Math.max(delay, a.retryAfterMs ?? 0)));
    }
  }

  private async attempt(body: string): Promise<Attempt> {
    const res = await this.http.post(this.url, body);
    if (!res.ok)
      return { ok: false, retriable: res.retriable, code: res.code, reason: `PagerDuty not reached: ${res.reason}` };
    const status = res.status;
    if (status >= 200 && status < 300) return { ok: true };
    const said = pagerDutyErrorText(res.text);
    const retry = pagerDutyRetriable(status, said);
    if (retry) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], Date.now());
      return { ok: false, retriable: true, ...retry, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    }
    const hint =
      status === 400
        ? ''
        : status === 404
          ? ' (check the base URL)'
          : status === 401 || status === 403
            ? ' (check the routing key)'
            : '';
    return {
      ok: false,
      retriable: false,
      code: status === 400 ? 'PAGERDUTY_400' : `PAGERDUTY_HTTP_${status}`,
      reason: `PagerDuty refused the change event (${status})${hint}${said ? `: ${said}` : ''}`,
    };
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
