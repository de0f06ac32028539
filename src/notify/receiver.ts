/**
 * The delivery port: what the outbox hands a receiver (a DeliveryJob), what the receiver answers (a
 * DeliveryOutcome), and what the outbox remembers between the jobs of one incident for that receiver (a
 * DeliveryRecord: the Slack channel and ts to update, the PagerDuty dedup key and which routing key opened it).
 *
 * Receivers do one HTTP exchange per job and never retry themselves: the outbox (outbox.ts) is the one retry
 * mechanism, durable in Redis, with backoff and jitter, honouring `retryAfterMs`. So a receiver classifies:
 *   - ok                          delivered; `record` holds what later jobs of the incident need
 *   - retriable (network, 429, 5xx, Slack `ratelimited`/`internal_error`)   tried again later
 *   - permanent (PagerDuty 400, Slack `invalid_auth`/`channel_not_found`/`not_in_channel`, webhook 4xx)
 *                                 not retried: logged with the reason, counted, self-alerted on the other receivers
 * A receiver that throws gets code DELIVERY_UNEXPECTED, retriable only by the one rule for foreign errors
 * (errors.ts isRetriable: transient network failures); anything else is a bug and fails the delivery.
 *
 * Ordering is the outbox's job too: a job other than `firing` / `delivery_failed` is only handed over once the
 * incident's `firing` job was delivered to the same receiver (its record exists), so a resolve can never overtake
 * its trigger, and a resolve for a trigger that was muted or failed is never sent.
 */
import type { AlertTransition } from '../model/alert-transition.js';
import type { GateNotice } from '../model/gate-notice.js';

/**
 * What a job announces (one job per incident group and receiver, notify/grouping.ts):
 *   firing           a group's first notification (Slack: a new parent message; PagerDuty: trigger)
 *   updated          members joined, resolved or got materially worse (Slack: parent updated in place and a thread
 *                    reply; PagerDuty: trigger again with the group's dedup key only when the worst severity rose)
 *   reminder         still firing after repeat_interval (Slack: thread reply; PagerDuty: nothing)
 *   resolved         the group's last member resolved (Slack: parent updated and a thread reply; PagerDuty: resolve)
 *   delivery_failed  a self-alert: another receiver permanently refused a job, or a trigger was given up after
 *                    the give-up time (a page may be missing); raised once per failing receiver until it recovers
 *   delivery_recovered  the self-alert's resolve: the failing receiver took a delivery again (PagerDuty: resolve
 *                    of the self-alert's dedup key; Slack: the self-alert message updated; webhook: resolved)
 *   gate_verdict     a canary gate decided (pass or fail): one message, once per gate, canary and baseline; `gate`
 *                    holds the verdict and `alert` names the gate as an alert would (rule = gate name)
 */
export type DeliveryEvent =
  'firing' | 'updated' | 'reminder' | 'resolved' | 'delivery_failed' | 'delivery_recovered' | 'gate_verdict';

/** Events that open their incident at a receiver (and are delivered at most once per incident and receiver). */
export function opensIncident(event: DeliveryEvent): boolean {
  return event === 'firing' || event === 'gate_verdict' || event === 'delivery_failed';
}

/** Events that close an incident someone was told of: never given up while their receiver exists. */
export function closesIncident(event: DeliveryEvent): boolean {
  return event === 'resolved' || event === 'delivery_recovered';
}

/** The self-alert's two events: about funnelwatch's own delivery, not about a funnel. */
export function isSelfAlert(event: DeliveryEvent): boolean {
  return event === 'delivery_failed' || event === 'delivery_recovered';
}

/** What a group's notification does (grouping.ts's dedup stage). */
export type GroupAction = 'trigger' | 'update' | 'resolve' | 'reminder';

/** One alert of an incident group, as its notifications list it. */
export interface GroupMember {
  /** alertKey. */
  key: string;
  rule: string;
  /** `dimension=value`, null for the whole funnel. */
  segment: string | null;
  severity: 'critical' | 'warning' | 'info';
  /** The member's own incident id. */
  incident: string;
  status: 'firing' | 'resolved';
  /** Relative change, signed so larger is worse. */
  change: number;
  observedRate?: number;
  expectedRate?: number;
  firedAt: number;
  resolvedAt?: number;
}

/** The incident group a job notifies. */
export interface GroupNotice {
  /** The group's incident id (`${receiver}/${key}@${openedAt}`). */
  id: string;
  /** The group labels as one string. */
  key: string;
  labels: Record<string, string>;
  action: GroupAction;
  /** Every member: the firing ones worst first, then the resolved ones. */
  members: GroupMember[];
  /** The alertKey of the worst member (the job's `alert`). */
  worst: string;
  /** An update whose worst severity is higher than the last notification's. */
  severityRose: boolean;
  firing: number;
  resolved: number;
  /** The segment the funnel-wide drill-down names as the cause (`payment_provider=stripe`). */
  cause?: string;
  /** The drill-down found the drop spread across every dimension's values: no segment is the cause. */
  spread?: boolean;
  /** Since the group's last notification: alertKeys that joined (or fired again) and that resolved. */
  joined: string[];
  left: string[];
}

export interface DeliveryFailure {
  /** The receiver that refused. */
  receiver: string;
  /** The job it refused. */
  jobId: string;
  event: DeliveryEvent;
  code: string;
  reason: string;
}

export interface DeliveryJob {
  /** Stable: `${transition id}/${event}/${receiver}` (a reminder adds its time), so a replayed job is recognisable. */
  id: string;
  receiver: string;
  event: DeliveryEvent;
  /** The alert as it stood when the job was made: rule, funnel, segment, severity, evidence, incidentId, context. */
  alert: AlertTransition;
  /** When the job was made (ms). */
  createdAt: number;
  /** Attempts already made (0 on the first). */
  attempt: number;
  /** Set when the job was taken over from a worker that died holding it: that worker may have delivered it
   *  without settling, so a receiver with no idempotency of its own (Slack) checks before sending again. */
  takenOver?: boolean;
  /** For `delivery_failed`: what failed; for `delivery_recovered`: the failure the self-alert announced. */
  failure?: DeliveryFailure;
  /** For the self-alert's events: its incident id (`self-alert/<failing receiver>@<since>`), which keeps its
   *  recovery behind its announcement in the delivery log. Absent on self-alerts queued by older versions. */
  selfAlert?: string;
  /** For `gate_verdict`: the decision. */
  gate?: GateNotice;
  /** The incident group this job notifies (every job but the self-alert's). */
  group?: GroupNotice;
}

/** Slack's handle on the incident's message. */
export interface SlackRecord {
  channel: string;
  ts: string;
}

/** PagerDuty's handle on the incident: the dedup key and a fingerprint of the routing key that opened it. */
export interface PagerDutyRecord {
  dedupKey: string;
  /** sha256 of the routing key, first 16 hex digits: a resolve must go through the same key as the trigger. */
  routingKeyId: string;
}

/** What the outbox keeps per (receiver, incident) once the incident's `firing` job was delivered. */
export interface DeliveryRecord {
  receiver: string;
  /** `alert.incidentId`. */
  incident: string;
  /** When the firing job was delivered. */
  openedAt: number;
  /** The last event delivered, and when. */
  lastEvent: DeliveryEvent;
  lastAt: number;
  slack?: SlackRecord;
  pagerduty?: PagerDutyRecord;
}

export type DeliveryOutcome =
  | {
      ok: true;
      /** Merged into the incident's DeliveryRecord. */ record?: { slack?: SlackRecord; pagerduty?: PagerDutyRecord };
      /** Nothing was sent (PagerDuty takes no reminders): done, but no sign that the receiver works. */
      nothingSent?: true;
    }
  | {
      ok: false;
      retriable: true;
      code: string;
      reason: string;
      /** The server said when (Retry-After). */ retryAfterMs?: number;
    }
  | { ok: false; retriable: false; code: string; reason: string };

export type ReceiverKind = 'slack' | 'pagerduty' | 'webhook' | 'alertmanager' | 'console';

export interface Receiver {
  readonly name: string;
  readonly kind: ReceiverKind;
  /**
   * One attempt at delivering `job`. `prior` is the incident's record for this receiver (undefined for `firing`
   * and `delivery_failed` jobs, and for a `firing` job retried after the crash of a worker that delivered it but
   * could not record it). Must not throw for an answer it understands; must not retry.
   */
  deliver(job: DeliveryJob, prior: DeliveryRecord | undefined): Promise<DeliveryOutcome>;
  /**
   * A call that changes nothing at the service but needs it up and our credentials good (PagerDuty: the resolve of
   * a key nothing opened; Slack: auth.test). The outbox uses it to see a receiver recover whose self-alert a
   * given-up job raised, when no delivery goes to it any more.
   */
  probe?(): Promise<DeliveryOutcome>;
  /** A start-up check of the configuration (Slack `auth.test`, a secret that can be read); problems as text. */
  check?(): Promise<string[]>;
  close?(): Promise<void>;
}
