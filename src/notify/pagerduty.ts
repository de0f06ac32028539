/**
 * PagerDuty, Events API v2 (`POST {baseUrl}/v2/enqueue`): one alert per incident group (notify/grouping.ts),
 * opened by `firing`, closed by `resolved`.
 *
 * Why the event looks the way it does (research: ../shared/research/alerting.md §1, §4):
 *   - `dedup_key` is a hash of the group's id (`funnelwatch/group/<40 hex>`) and nothing else: a key that carried
 *     severity or values would open a second incident on every change and make the resolve miss its trigger.
 *   - the summary names the worst member and the segment the drill-down names as the cause; every member is in
 *     `custom_details.members`.
 *   - `updated` is sent (a `trigger` with the same key, which updates the open alert without a new page) only when
 *     the group's worst severity rose; members joining or resolving are news for Slack, not a page.
 *     `reminder` sends nothing: reminders are Slack thread replies, not pages.
 *   - `resolve` carries the full payload: PagerDuty event rules once routed minimal resolves nowhere and incidents
 *     stayed open (prometheus/alertmanager#1440).
 *   - `summary` is cut to 1024 code points and the event kept under 512,000 bytes by dropping the largest
 *     `custom_details` parts: over either limit PagerDuty answers 400 and the page is lost (alertmanager#1700,
 *     #2178). Both cuts are reported as warnings and logged.
 *   - A resolve only closes an alert opened through the same routing key, so each delivery records which key it
 *     used (sha256, 16 hex digits: the key itself never leaves the secret store, logs included).
 *
 * Answers (§1.4): 2xx (202) ok; 400 permanent (the same event is refused again) with PagerDuty's `errors[]` in the
 * reason; 429 retriable after Retry-After or 30 s (PagerDuty asks for a backoff, and a burst of retries would
 * only extend the throttle); 5xx, timeouts and network errors retriable; other 4xx (401/403/404/413) permanent.
 * A 202 means "accepted for processing", not "someone was paged".
 */
import { createHash } from 'node:crypto';
import { alertKey } from '../model/alert-key.js';
import type { AlertTransition } from '../model/alert-transition.js';
import { systemClock, type Clock } from '../core/clock.js';
import {
  PAGERDUTY_429_DEFAULT_MS,
  PAGERDUTY_DEFAULT_URL,
  PAGERDUTY_MAX_DEDUP_KEY,
  PAGERDUTY_MAX_EVENT_BYTES,
  PAGERDUTY_MAX_SUMMARY,
  pagerDutyErrorText,
  pagerDutyRetriable,
} from '../core/pagerduty-api.js';
import type { Logger } from '../obs/logger.js';
import {
  fillDashboardUrl,
  formatSignedChange,
  formatWindow,
  headline,
  isoOrNull,
  observedChange,
  segmentText,
  groupTail,
} from './format.js';
import { groupDedupKey } from './grouping.js';
import { codePointLength, truncateCodePoints } from '../core/text.js';
import {
  closesIncident,
  isSelfAlert,
  type DeliveryJob,
  type DeliveryOutcome,
  type DeliveryRecord,
  type Receiver,
} from './receiver.js';
import type { PagerDutyReceiverDef } from '../rules/receiver-def.js';
import { describeSecret, trySecret } from '../core/secrets.js';
import { JsonPoster, parseRetryAfter } from '../core/outbound-http.js';

export type PagerDutySeverity = 'critical' | 'error' | 'warning' | 'info';

export interface PagerDutyLink {
  href: string;
  text: string;
}

/** An Events API v2 alert event as funnelwatch sends it. */
export interface PagerDutyEventBody {
  routing_key: string;
  event_action: 'trigger' | 'resolve';
  dedup_key: string;
  payload: {
    summary: string;
    source: string;
    severity: PagerDutySeverity;
    timestamp?: string;
    component: string;
    group: string;
    class: string;
    custom_details: Record<string, unknown>;
  };
  client: string;
  client_url?: string;
  links?: PagerDutyLink[];
}

export interface PagerDutyEventOptions {
  /** `payload.source`; default `funnelwatch`. */
  source?: string;
  /** Dashboard link template; `{funnel}`, `{rule}`, `{segment}` are filled in, URL-encoded. */
  dashboardUrl?: string;
  /** The key the incident was opened with (its DeliveryRecord), so a later job addresses that same alert. */
  dedupKey?: string;
}

const SEVERITY: Record<AlertTransition['severity'], PagerDutySeverity> = {
  critical: 'critical',
  warning: 'warning',
  info: 'info',
};

/**
 * `key` made to fit PagerDuty's 255-character limit. Measured in UTF-8 bytes, the strictest reading of
 * "characters", so a segment value in any script fits whatever PagerDuty counts. A longer key keeps a prefix (cut
 * on a code point) and ends in `#` + 32 hex digits of its sha256: still deterministic, still unique.
 */
export function fitDedupKey(key: string): string {
  if (Buffer.byteLength(key, 'utf8') <= PAGERDUTY_MAX_DEDUP_KEY) return key;
  const tail = `#${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
  const room = PAGERDUTY_MAX_DEDUP_KEY - tail.length;
  let prefix = '';
  let bytes = 0;
  for (const cp of key) {
    const b = Buffer.byteLength(cp, 'utf8');
    if (bytes + b > room) break;
    prefix += cp;
    bytes += b;
  }
  return prefix + tail;
}

/** The dedup key of a (rule, segment): stable across evidence, severity and time, at most 255 bytes. */
export function pagerDutyDedupKey(rule: string, segment: AlertTransition['segment']): string {
  return fitDedupKey(`funnelwatch/${alertKey(rule, segment)}`);
}

/** One open self-alert per failing receiver: repeated refusals update it; its recovery resolves it. */
export function deliveryFailedDedupKey(receiver: string): string {
  return fitDedupKey(`funnelwatch/delivery-failed/${receiver}`);
}

/** The key the recovery probe resolves: nothing ever triggers it, so its resolve changes nothing. */
export const PROBE_DEDUP_KEY = 'funnelwatch/probe';

/** The routing key's fingerprint kept in DeliveryRecords: sha256, first 16 hex digits. */
export function routingKeyId(routingKey: string): string {
  return createHash('sha256').update(routingKey).digest('hex').slice(0, 16);
}

function httpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ');
}

/** The alert's evidence and context as PagerDuty custom details: flat parts, so trimming can drop one at a time. */
function alertDetails(job: DeliveryJob): Record<string, unknown> {
  const a = job.alert;
  const d: Record<string, unknown> = {
    event: job.event,
    rule: a.rule,
    funnel: a.funnel,
    segment: segmentText(a.segment) || 'whole funnel',
    severity: a.severity,
  };
  if (a.owner) d.owner = a.owner;
  if (a.description) d.description = a.description;
  if (a.incidentId) d.incident_id = a.incidentId;
  d.transition_id = a.id;
  d.rule_set_version = a.ruleSetVersion;
  if (a.labels && Object.keys(a.labels).length > 0) d.labels = a.labels;
  const e = a.evidence;
  if (e) {
    const ev: Record<string, unknown> = {
      observed: e.observed,
      expected: e.expected,
      observed_rate: e.observedRate,
      expected_rate: e.expectedRate,
      change: formatSignedChange(observedChange(e)) || null,
      relative_change: e.relativeChange,
      volume: e.volume,
      window: formatWindow(e.windowMinutes) || null,
      window_minutes: e.windowMinutes,
      p_value: e.pValue,
      statistic: e.statistic,
      threshold: e.threshold,
      chance_rate_per_week: e.chanceRatePerWeek,
      onset: isoOrNull(e.onset),
      evaluated_up_to: isoOrNull(e.evaluatedUpTo),
      baseline: e.baseline,
    };
    if (e.noise) ev.noise = e.noise;
    if (e.recentChange !== undefined) ev.recent_change = e.recentChange;
    if (e.recentMinutes !== undefined) ev.recent_minutes = e.recentMinutes;
    if (e.guard) ev.guard = e.guard;
    if (e.reason) ev.reason = e.reason;
    d.evidence = ev;
  }
  const ctx = a.context;
  if (ctx?.deploys) {
    d.likely_deploys = ctx.deploys.slice(0, 5).map((x) => ({
      service: x.service,
      version: x.version,
      environment: x.environment,
      deployed_at: isoOrNull(x.ts),
      commit: x.commit,
      author: x.author,
      url: x.url,
      score: x.score,
      why: x.why,
    }));
  }
  if (ctx?.drilldown) d.drilldown = ctx.drilldown;
  const g = job.group;
  if (g) {
    d.incident_group = { id: g.id, labels: g.labels, firing: g.firing, resolved: g.resolved, cause: g.cause ?? null };
    d.members = g.members.map((m) => ({
      rule: m.rule,
      segment: m.segment ?? 'whole funnel',
      severity: m.severity,
      status: m.status,
      observed_rate: m.observedRate ?? null,
      expected_rate: m.expectedRate ?? null,
      fired_at: isoOrNull(m.firedAt),
      ...(m.resolvedAt !== undefined ? { resolved_at: isoOrNull(m.resolvedAt) } : {}),
    }));
  }
  return d;
}

/** Byte size of the JSON of each custom_details part, largest first. */
function partsBySize(details: Record<string, unknown>): [string, number][] {
  return Object.entries(details)
    .map(([k, v]): [string, number] => [k, Buffer.byteLength(JSON.stringify({ [k]: v }) ?? '', 'utf8')])
    .sort((x, y) => y[1] - x[1]);
}

const TRIM_NOTE = 'funnelwatch_note';

/**
 * The Events API v2 event for a job. Pure: the same job, key and options give the same body. `warnings` lists
 * what was cut to fit PagerDuty's limits (the receiver logs them); an empty list means nothing was.
 */
export function pagerDutyEvent(
  job: DeliveryJob,
  routingKey: string,
  opts: PagerDutyEventOptions = {},
): { body: PagerDutyEventBody; warnings: string[] } {
  const a = job.alert;
  const warnings: string[] = [];
  const failed = isSelfAlert(job.event);

  let severity: PagerDutySeverity = SEVERITY[a.severity] ?? 'error';
  if (!(a.severity in SEVERITY)) {
    // A severity this version does not know (hand-edited state, a newer release): a page with a guessed severity
    // beats a 400 that loses it.
    warnings.push(`unknown severity ${JSON.stringify(a.severity)} sent as "error"`);
  }
  let text: string;
  let details: Record<string, unknown>;
  let dedupKey: string;
  if (failed) {
    const f = job.failure;
    // A missing firing means someone was not told about an incident: that pages. A lost resolve, update or
    // reminder leaves things noisier but nobody uninformed.
    severity = f?.event === 'firing' ? 'critical' : 'warning';
    text =
      job.event === 'delivery_recovered'
        ? `funnelwatch: receiver ${f?.receiver ?? job.receiver} delivers again`
        : f
          ? `funnelwatch: receiver ${f.receiver} refused the ${f.event} of ${headline(a)}: ${f.reason} (${f.code})`
          : `funnelwatch: a delivery failed for ${headline(a)}`;
    dedupKey = deliveryFailedDedupKey(f?.receiver ?? job.receiver);
    details = { failure: f ?? null, ...alertDetails(job) };
  } else {
    const tail = groupTail(job.group);
    text = `${headline(a)}${tail ? ` — ${tail}` : ''}`;
    dedupKey = opts.dedupKey ?? (job.group ? groupDedupKey(job.group.id) : pagerDutyDedupKey(a.rule, a.segment));
    details = alertDetails(job);
  }
  const summary = truncateCodePoints(oneLine(text), PAGERDUTY_MAX_SUMMARY);
  if (summary.truncated)
    warnings.push(`summary cut from ${codePointLength(text)} to ${PAGERDUTY_MAX_SUMMARY} characters`);
  if (codePointLength(summary.text) === 0) summary.text = `funnelwatch alert ${a.rule || '(unnamed rule)'}`;

  const links: PagerDutyLink[] = [];
  if (a.runbook) {
    if (httpUrl(a.runbook)) links.push({ href: a.runbook, text: 'Runbook' });
    else details.runbook = a.runbook; // not a link PagerDuty would accept; kept where a person still sees it
  }
  let clientUrl: string | undefined;
  if (opts.dashboardUrl) {
    const href = fillDashboardUrl(opts.dashboardUrl, a);
    if (httpUrl(href)) {
      links.push({ href, text: `Dashboard: ${a.funnel}` });
      clientUrl = href;
    } else warnings.push('the dashboard link template does not give an http(s) URL; link left out');
  }

  const timestamp = isoOrNull(a.at) ?? isoOrNull(job.createdAt) ?? undefined;
  const body: PagerDutyEventBody = {
    routing_key: routingKey,
    event_action: closesIncident(job.event) ? 'resolve' : 'trigger',
    dedup_key: dedupKey,
    payload: {
      summary: summary.text,
      source: opts.source || 'funnelwatch',
      severity,
      ...(timestamp ? { timestamp } : {}),
      component: a.funnel,
      group: failed ? 'funnelwatch-delivery' : 'funnels',
      class: failed ? 'delivery_failed' : (a.metric ?? 'conversion'),
      custom_details: details,
    },
    client: 'funnelwatch',
    ...(clientUrl ? { client_url: clientUrl } : {}),
    ...(links.length > 0 ? { links } : {}),
  };

  // Alertmanager's rule: a page with fewer details beats a 400 and no page. Drop the largest detail first, so the
  // rule, funnel, segment and numbers survive a runaway drill-down or description.
  const size = (): number => Buffer.byteLength(JSON.stringify(body), 'utf8');
  let bytes = size();
  if (bytes > PAGERDUTY_MAX_EVENT_BYTES) {
    const dropped: string[] = [];
    const d = body.payload.custom_details;
    while (bytes > PAGERDUTY_MAX_EVENT_BYTES) {
      const biggest = partsBySize(d).find(([k]) => k !== TRIM_NOTE);
      if (!biggest) break;
      delete d[biggest[0]];
      dropped.push(`${biggest[0]} (${biggest[1]} bytes)`);
      d[TRIM_NOTE] =
        `details dropped to fit PagerDuty's 512 KB event limit: ${dropped.join(', ')}; see funnelwatch's API or logs`;
      bytes = size();
    }
    warnings.push(`event over ${PAGERDUTY_MAX_EVENT_BYTES} bytes: dropped custom_details ${dropped.join(', ')}`);
    if (bytes > PAGERDUTY_MAX_EVENT_BYTES && body.links) {
      delete body.links;
      delete body.client_url;
      warnings.push('links dropped to fit the event limit');
      bytes = size();
    }
    if (bytes > PAGERDUTY_MAX_EVENT_BYTES)
      warnings.push(`event still ${bytes} bytes after trimming; PagerDuty will refuse it`);
  }
  return { body, warnings };
}

export interface PagerDutyReceiverOptions {
  def: PagerDutyReceiverDef;
  /** Default https://events.pagerduty.com; events go to `${baseUrl}/v2/enqueue`. */
  baseUrl?: string;
  /** Per attempt: connect, wait for the answer's headers, and between body chunks. Default 10,000 ms. */
  timeoutMs?: number;
  logger: Logger;
  /** Where `{ env }` secret refs are read; process.env by default. */
  env?: Record<string, string | undefined>;
  /** `payload.source`; default `funnelwatch`. */
  source?: string;
  /** For Retry-After dates. */
  clock?: Clock;
}

export class PagerDutyReceiver implements Receiver {
  readonly kind = 'pagerduty' as const;
  readonly name: string;
  private readonly log: Logger;
  private readonly url: string;
  private readonly clock: Clock;
  private readonly http: JsonPoster;

  constructor(private readonly o: PagerDutyReceiverOptions) {
    this.name = o.def.name;
    this.url = `${(o.baseUrl ?? PAGERDUTY_DEFAULT_URL).replace(/\/+$/, '')}/v2/enqueue`;
    this.http = new JsonPoster('PAGERDUTY', o.timeoutMs ?? 10_000);
    this.clock = o.clock ?? systemClock;
    this.log = o.logger.child({ component: 'notify', receiver: o.def.name, kind: 'pagerduty' });
  }

  async deliver(job: DeliveryJob, prior: DeliveryRecord | undefined): Promise<DeliveryOutcome> {
    // Reminders are Slack thread replies; a group's update pages again only when its worst severity rose.
    if (job.event === 'reminder' || (job.event === 'updated' && !job.group?.severityRose))
      return { ok: true, nothingSent: true };
    if (job.event === 'gate_verdict') {
      // The rule loader keeps PagerDuty out of a gate's notify; a job queued before such a change is refused.
      return {
        ok: false,
        retriable: false,
        code: 'DELIVERY_NOT_SUPPORTED',
        reason: `receiver ${this.name}: canary gate verdicts are not sent to PagerDuty (not an incident)`,
      };
    }

    // Read per delivery, so a rotated key file is used without a restart.
    const secret = trySecret(this.o.def.routingKey, this.o.env);
    if (!secret.ok) return { ...secret, reason: `receiver ${this.name}: ${secret.reason}` };
    const key = secret.value;
    const keyId = routingKeyId(key);
    const opened = job.event === 'delivery_failed' ? undefined : prior?.pagerduty;
    if (opened && opened.routingKeyId !== keyId) {
      this.log.warn(
        { job: job.id, event: job.event, dedupKey: opened.dedupKey, openedWith: opened.routingKeyId, now: keyId },
        'the routing key changed since this incident was opened: ' +
          'PagerDuty applies events only through the key that opened it, ' +
          'so the open incident may need resolving by hand',
      );
    }
    const { body, warnings } = pagerDutyEvent(job, key, {
      source: this.o.source,
      dashboardUrl: this.o.def.dashboardUrl,
      dedupKey: opened?.dedupKey,
    });
    if (warnings.length > 0)
      this.log.warn(
        { job: job.id, event: job.event, dedupKey: body.dedup_key, warnings },
        'PagerDuty event trimmed to fit the API limits',
      );

    const fail = (retriable: boolean, code: string, reason: string, retryAfterMs?: number): DeliveryOutcome => {
      // PagerDuty's errors may quote what it was sent; the routing key must not travel on into logs or self-alerts.
      const clean = reason.split(key).join('[routing key]');
      if (!retriable) return { ok: false, retriable: false, code, reason: clean };
      return retryAfterMs === undefined
        ? { ok: false, retriable: true, code, reason: clean }
        : { ok: false, retriable: true, code, reason: clean, retryAfterMs };
    };

    const res = await this.http.post(this.url, JSON.stringify(body));
    if (!res.ok) return fail(res.retriable, res.code, `PagerDuty not reached: ${res.reason}`);
    const status = res.status;
    if (status >= 200 && status < 300) {
      this.log.debug(
        { job: job.id, event: job.event, action: body.event_action, dedupKey: body.dedup_key, status },
        'PagerDuty accepted the event',
      );
      return { ok: true, record: { pagerduty: { dedupKey: body.dedup_key, routingKeyId: keyId } } };
    }
    const said = pagerDutyErrorText(res.text);
    if (status === 400)
      return fail(false, 'PAGERDUTY_400', `PagerDuty refused the event (400): ${said || 'no details'}`);
    const retry = pagerDutyRetriable(status, said);
    if (retry) {
      const after = parseRetryAfter(res.headers['retry-after'], this.clock.now());
      // A throttle with no Retry-After still wants a pause (module header): a burst of retries only extends it.
      return fail(true, retry.code, retry.reason, status === 429 ? (after ?? PAGERDUTY_429_DEFAULT_MS) : after);
    }
    const hint =
      status === 404
        ? ' (check the base URL)'
        : status === 401 || status === 403
          ? ' (check the routing key and the integration)'
          : status === 413
            ? ' (event too large)'
            : '';
    return fail(false, `PAGERDUTY_HTTP_${status}`, `PagerDuty answered ${status}${hint}${said ? `: ${said}` : ''}`);
  }

  /** A resolve of a key nothing ever opens: PagerDuty accepts it (202) and drops it, so it pages nobody. */
  async probe(): Promise<DeliveryOutcome> {
    const secret = trySecret(this.o.def.routingKey, this.o.env);
    if (!secret.ok) return { ...secret, reason: `receiver ${this.name}: ${secret.reason}` };
    const body = { routing_key: secret.value, event_action: 'resolve', dedup_key: PROBE_DEDUP_KEY };
    const res = await this.http.post(this.url, JSON.stringify(body));
    if (!res.ok) return { ...res, reason: `PagerDuty not reached: ${res.reason}` };
    if (res.status >= 200 && res.status < 300) return { ok: true };
    const reason = `PagerDuty answered ${res.status} to a probe`;
    return { ok: false, retriable: true, code: `PAGERDUTY_HTTP_${res.status}`, reason };
  }

  async check(): Promise<string[]> {
    const secret = trySecret(this.o.def.routingKey, this.o.env);
    if (!secret.ok) return [`receiver ${this.name}: ${secret.reason}`];
    const n = codePointLength(secret.value);
    if (n !== 32) {
      return [
        `receiver ${this.name}: the routing key in ${describeSecret(this.o.def.routingKey)} is ${n} characters; ` +
          'a PagerDuty Events API v2 integration key has 32 (Service → Integrations → Events API v2 → Integration Key)',
      ];
    }
    return [];
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
