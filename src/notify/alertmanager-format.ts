/**
 * Alertmanager's formats, so teams keep their routing and on-call tooling:
 *   - the webhook payload version 4 (Alertmanager's `notify/webhook` Message: version, groupKey, truncatedAlerts,
 *     status, receiver, groupLabels, commonLabels, commonAnnotations, externalURL, alerts[] with status, labels,
 *     annotations, startsAt, endsAt, generatorURL, fingerprint), which the webhook receiver sends; its JSON Schema
 *     is committed as docs/alertmanager-webhook-v4.schema.json and a test validates our payloads against it;
 *   - the postable alerts of Alertmanager's API v2 (`POST /api/v2/alerts`: labels, annotations, startsAt, endsAt,
 *     generatorURL), which the `alertmanager` receiver pushes.
 * One alert per member of the job's incident group (a job without a group, or a self-alert, stands for one alert).
 * Labels: `alertname` (the rule), `funnel`, `rule`, `severity`, `segment` and the segment's dimension by name, and
 * the headline rule's labels; a firing alert's endsAt is Alertmanager's zero time in the webhook (as Alertmanager
 * sends it) and absent in the API push (Alertmanager then applies its resolve_timeout).
 */
import { createHash } from 'node:crypto';
import type { AlertTransition } from '../model/alert-transition.js';
import { headline, isoOrNull, memberText } from './format.js';
import { closesIncident, isSelfAlert, type DeliveryJob, type GroupMember } from './receiver.js';

/** Alertmanager's "not set" time, as its webhook sends it for a firing alert's endsAt. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface AmAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookV4 {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: AmAlert[];
}

/** Alertmanager's fingerprint is a hash of the sorted label set; ours is sha256, 16 hex digits, of the same. */
export function fingerprint(labels: Record<string, string>): string {
  const text = Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${labels[k]}`)
    .join('\u0001');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** A Prometheus label name: dimension names may hold `.` or `-` (attributes), which Alertmanager refuses. */
export function labelName(k: string): string {
  const s = k.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[a-zA-Z_]/.test(s) ? s : `_${s}`;
}

function ruleLabels(a: AlertTransition): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a.labels ?? {})) if (typeof v === 'string') out[labelName(k)] = v;
  return out;
}

/** One member's labels (the headline rule's labels included when the member is of that rule). */
function memberLabels(m: GroupMember, head: AlertTransition): Record<string, string> {
  const labels: Record<string, string> = {
    ...(m.rule === head.rule ? ruleLabels(head) : {}),
    alertname: m.rule,
    rule: m.rule,
    funnel: head.funnel,
    severity: m.severity,
    segment: m.segment ?? '',
  };
  if (m.segment) {
    const i = m.segment.indexOf('=');
    if (i > 0) labels[labelName(m.segment.slice(0, i))] = m.segment.slice(i + 1);
  }
  return labels;
}

/** The members a job speaks of: its group's, or its one alert. */
function membersOf(job: DeliveryJob): GroupMember[] {
  if (job.group) return job.group.members;
  const a = job.alert;
  const e = a.evidence;
  return [
    {
      key: a.rule,
      rule: isSelfAlert(job.event) ? 'funnelwatch_delivery_failed' : a.rule,
      segment: a.segment ? `${a.segment.dimension}=${a.segment.value}` : null,
      severity: a.severity,
      incident: a.incidentId ?? job.id,
      status: closesIncident(job.event) ? 'resolved' : 'firing',
      change: e?.relativeChange ?? 0,
      ...(e && Number.isFinite(e.observedRate) ? { observedRate: e.observedRate } : {}),
      ...(e && Number.isFinite(e.expectedRate) ? { expectedRate: e.expectedRate } : {}),
      firedAt: a.at,
      ...(closesIncident(job.event) ? { resolvedAt: job.event === 'resolved' ? a.at : job.createdAt } : {}),
    },
  ];
}

/** The job's alerts in Alertmanager's shape. */
export function amAlerts(job: DeliveryJob, externalURL: string): AmAlert[] {
  const head = job.alert;
  const resolvedAll = closesIncident(job.event);
  return membersOf(job).map((m) => {
    const labels = memberLabels(m, head);
    // One self-alert per failing receiver: its recovery resolves the alert its failure fired.
    if (isSelfAlert(job.event) && job.failure) labels.failed_receiver = job.failure.receiver;
    const resolved = resolvedAll || m.status === 'resolved';
    const annotations: Record<string, string> = { summary: memberText(m) };
    if (m.rule === head.rule && head.description) annotations.description = head.description;
    if (m.rule === head.rule && head.runbook) annotations.runbook_url = head.runbook;
    // What the numbers do not say (a canary user's failed step and answer), and the deploys named as likely cause.
    if (m.rule === head.rule && head.evidence?.reason) annotations.reason = head.evidence.reason;
    const deploys = m.rule === head.rule ? head.context?.deploys : undefined;
    if (deploys?.length)
      annotations.likely_deploys = deploys
        .slice(0, 5)
        .map((d) => `${d.service} ${d.version}${d.environment ? ` (${d.environment})` : ''} at ${isoOrNull(d.ts)}`)
        .join('; ');
    if (isSelfAlert(job.event) && job.failure) {
      annotations.summary = `receiver ${job.failure.receiver} refused the ${job.failure.event} of ${headline(head)}`;
      annotations.description = `${job.failure.code}: ${job.failure.reason}`;
    }
    const base = externalURL.replace(/\/+$/, '');
    return {
      status: resolved ? 'resolved' : 'firing',
      labels,
      annotations,
      startsAt: isoOrNull(m.firedAt) ?? ZERO_TIME,
      endsAt: resolved ? (isoOrNull(m.resolvedAt ?? job.createdAt) ?? ZERO_TIME) : ZERO_TIME,
      generatorURL: base ? `${base}/v1/alerts?rule=${encodeURIComponent(m.rule)}` : '',
      fingerprint: fingerprint(labels),
    };
  });
}

/** Labels (or annotations) every alert shares with the same value. */
function common(maps: Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = maps;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first ?? {})) if (rest.every((m) => m[k] === v)) out[k] = v;
  return out;
}

/** The Alertmanager webhook v4 message for a job. */
export function webhookV4(job: DeliveryJob, externalURL = ''): WebhookV4 {
  const alerts = amAlerts(job, externalURL);
  const groupLabels = Object.fromEntries(
    Object.entries(job.group?.labels ?? { alertname: alerts[0]?.labels.alertname ?? job.alert.rule }).map(([k, v]) => [
      labelName(k),
      v,
    ]),
  );
  return {
    version: '4',
    groupKey: job.group ? `${job.receiver}:${job.group.key}` : `${job.receiver}:${job.alert.rule}`,
    truncatedAlerts: 0,
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    receiver: job.receiver,
    groupLabels,
    commonLabels: common(alerts.map((a) => a.labels)),
    commonAnnotations: common(alerts.map((a) => a.annotations)),
    externalURL,
    alerts,
  };
}

/** The body of `POST /api/v2/alerts`: every alert of the job, endsAt only on resolved ones. */
export function postableAlerts(job: DeliveryJob, externalURL = ''): Record<string, unknown>[] {
  return amAlerts(job, externalURL).map((a) => ({
    labels: a.labels,
    annotations: a.annotations,
    startsAt: a.startsAt,
    ...(a.status === 'resolved' ? { endsAt: a.endsAt } : {}),
    ...(a.generatorURL ? { generatorURL: a.generatorURL } : {}),
  }));
}
