/**
 * What PagerDuty's APIs accept (Events API v2 for pages, Change Events for deploy markers): the host and the
 * limits both senders must respect.
 */

export const PAGERDUTY_MAX_EVENT_BYTES = 512_000;
export const PAGERDUTY_MAX_SUMMARY = 1024;
export const PAGERDUTY_MAX_DEDUP_KEY = 255;
export const PAGERDUTY_DEFAULT_URL = 'https://events.pagerduty.com';
/** When a 429 says nothing: PagerDuty suggests retrying about 30 s apart (05-Rate-Limits.md). */
export const PAGERDUTY_429_DEFAULT_MS = 30_000;
