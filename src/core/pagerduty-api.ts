/**
 * What PagerDuty's APIs accept and answer (Events API v2 for pages, Change Events for deploy markers): the host, the
 * limits both senders must respect, and how both read an error answer.
 */
import { snippet } from './outbound-http.js';

export const PAGERDUTY_MAX_EVENT_BYTES = 512_000;
export const PAGERDUTY_MAX_SUMMARY = 1024;
export const PAGERDUTY_MAX_DEDUP_KEY = 255;
export const PAGERDUTY_DEFAULT_URL = 'https://events.pagerduty.com';
/** When a 429 says nothing: PagerDuty suggests retrying about 30 s apart (05-Rate-Limits.md). */
export const PAGERDUTY_429_DEFAULT_MS = 30_000;

/** PagerDuty's error body `{status, message, errors[]}` as "message: error; error", else the raw text, cut short. */
export function pagerDutyErrorText(text: string): string {
  try {
    const j = JSON.parse(text) as { message?: unknown; errors?: unknown };
    const errors = Array.isArray(j.errors) ? j.errors.map(String).join('; ') : '';
    const message = typeof j.message === 'string' ? j.message : '';
    const both = [message, errors].filter(Boolean).join(': ');
    if (both) return snippet(both, 500);
  } catch {
    // not JSON: a proxy's page
  }
  return snippet(text);
}

/**
 * The answers both APIs ask to be retried, 429 (throttled) and 5xx, as a failure code and reason (`said`: the
 * answer's text as `pagerDutyErrorText` renders it); undefined for any other status. How long to wait is the
 * caller's: a page waits for the throttle to pass, a best-effort change event gives up sooner.
 */
export function pagerDutyRetriable(status: number, said: string): { code: string; reason: string } | undefined {
  const detail = said ? `: ${said}` : '';
  if (status === 429) return { code: 'PAGERDUTY_429', reason: `PagerDuty rate limit (429)${detail}` };
  if (status >= 500) return { code: `PAGERDUTY_HTTP_${status}`, reason: `PagerDuty server error (${status})${detail}` };
  return undefined;
}
