/**
 * Incidents: the alerts that share a cause, grouped per receiver into one notification group, modelled on
 * Alertmanager's aggregation groups (dispatch/dispatch.go) and its dedup stage (notify/dedup_stage.go).
 *
 * A group is the firing alerts of one receiver whose `group_by` labels are equal (default `funnel`: every rule of
 * one funnel, funnel-wide and segments; `...` groups nothing). Its life, each evaluation:
 *   - the first member opens it; the first notification (`trigger`) goes once `group_wait` has passed since then
 *     (default 30 s; evaluations run once a minute, so it goes at the first one after that), carrying every member
 *     that joined meanwhile; when every member resolved before that, nothing is sent;
 *   - then, at most every `group_interval` (default 5 min), an `update` when the members changed since the last
 *     notification (joined, resolved, or the worst drop grew materially), or a `resolve` once no member fires;
 *   - with nothing changed, a `reminder` every `repeat_interval` (default 4 h, 0: never).
 * What the last notification said (its firing and resolved members, the worst severity and drop) is kept in the
 * group (`sent`): the dedup decision compares with it, as Alertmanager's dedup stage compares with its
 * notification log. The group state is written in the same fenced commit as the job that notifies it, so a
 * restart or another replica continues it: no group is lost, none is notified twice.
 *
 * The stages, each a pure function tested alone: `inhibitedBy` (a segment explained by another firing, delivered
 * alert), silences (`SilenceLookup`), `groupKey` / `assignMembers` (group and wait), `nextAction` (dedup against what
 * was sent), `groupJob` (what the delivery outbox gets). The outbox delivers with retry and records (outbox.ts).
 */
import { createHash } from 'node:crypto';
import { alertKey } from '../model/alert-key.js';
import type { AlertTransition } from '../model/alert-transition.js';
import type { DeliveryEvent, DeliveryJob, GroupNotice, GroupMember, GroupAction } from './receiver.js';

export type { GroupMember, GroupNotice, GroupAction };

export interface Grouping {
  /** Labels whose equal values put alerts in one group; `['...']`: every label (no grouping). */
  groupBy: readonly string[];
  groupWaitMs: number;
  groupIntervalMs: number;
  /** 0: no reminders. */
  repeatIntervalMs: number;
}

export const DEFAULT_GROUPING: Grouping = {
  groupBy: ['funnel'],
  groupWaitMs: 30_000,
  groupIntervalMs: 5 * 60_000,
  repeatIntervalMs: 4 * 3_600_000,
};

/**
 * A receiver's grouping: its own settings over the defaults; `repeatMs` is the daemon's default reminder interval.
 * An `alertmanager` receiver notifies at once and then every minute while its group is active (Alertmanager
 * expects firing alerts re-sent regularly, and does its own grouping and waiting).
 */
export function receiverGrouping(
  def: { kind?: string; grouping?: Partial<Grouping> } | undefined,
  repeatMs: number,
): Grouping {
  const base = { ...DEFAULT_GROUPING, repeatIntervalMs: repeatMs, ...(def?.grouping ?? {}) };
  if (def?.kind !== 'alertmanager') return base;
  return { ...base, groupWaitMs: 0, groupIntervalMs: 60_000, repeatIntervalMs: 60_000 };
}

export type Severity = AlertTransition['severity'];

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export function severityRank(s: string): number {
  return SEVERITY_RANK[s as Severity] ?? 1;
}

/** What was in the last notification of a group (Alertmanager's notification log entry). */
export interface SentRecord {
  at: number;
  action: GroupAction;
  firing: string[];
  resolved: string[];
  severity: Severity;
  /** The worst member's relative change then. */
  change: number;
}

export interface GroupState {
  receiver: string;
  /** The group's labels as one string (groupKey). */
  key: string;
  labels: Record<string, string>;
  /** `${receiver}/${key}@${openedAt}`: the incident id of the delivery log, job ids and PagerDuty's dedup key. */
  id: string;
  openedAt: number;
  /** By alertKey. */
  members: Record<string, GroupMember>;
  /** The worst firing member as last seen, which the notifications lead with. */
  headline: AlertTransition;
  sent?: SentRecord;
}

/** The field of a group in the groups hash. */
export function groupField(receiver: string, key: string): string {
  return `${receiver}|${key}`;
}

/** The group labels of an alert under `groupBy`, and their key; a label the alert lacks counts as empty. */
export function groupKey(
  labels: Readonly<Record<string, string>>,
  groupBy: readonly string[],
): { key: string; labels: Record<string, string> } {
  const names = groupBy.includes('...') ? Object.keys(labels) : [...groupBy];
  const picked: Record<string, string> = {};
  for (const n of [...new Set(names)].sort()) picked[n] = labels[n] ?? '';
  return { key: JSON.stringify(picked), labels: picked };
}

/** The member summary of an alert (what a group notification lists). */
export function memberOf(key: string, a: AlertTransition, firedAt: number): GroupMember {
  const e = a.evidence;
  const change = e && Number.isFinite(e.relativeChange) ? e.relativeChange : 0;
  return {
    key,
    rule: a.rule,
    segment: a.segment ? `${a.segment.dimension}=${a.segment.value}` : null,
    severity: a.severity,
    incident: a.incidentId ?? key,
    status: 'firing',
    change,
    ...(e && Number.isFinite(e.observedRate) ? { observedRate: e.observedRate } : {}),
    ...(e && Number.isFinite(e.expectedRate) ? { expectedRate: e.expectedRate } : {}),
    firedAt,
  };
}

/** Worst first: higher severity, then the larger drop, then funnel-wide before segments, then by key. */
export function compareMembers(a: GroupMember, b: GroupMember): number {
  return (
    severityRank(b.severity) - severityRank(a.severity) ||
    b.change - a.change ||
    (a.segment === null ? 0 : 1) - (b.segment === null ? 0 : 1) ||
    (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  );
}

/** The firing members, worst first. */
export function firingMembers(g: GroupState): GroupMember[] {
  return Object.values(g.members)
    .filter((m) => m.status === 'firing')
    .sort(compareMembers);
}

/**
 * The inhibition stage: the alert that explains `alert` at a receiver, when `alert` is held back there. A segment
 * alert (platform=ios) is held back only while the drill-down places the deficit in another dimension
 * (payment_provider=stripe) AND the alert of that segment, same rule, is itself firing and a member of a group of
 * this receiver (delivered or about to be, not silenced or inhibited there). `deliveredAt(explainer)` says so; it
 * is asked again every evaluation, so the moment the explainer resolves, is silenced or does not page this
 * receiver, the held-back alert joins its group and is notified.
 */
export function inhibitedBy(
  alert: Pick<AlertTransition, 'rule' | 'segment' | 'context'>,
  deliveredAt: (explainerKey: string) => boolean,
): string | undefined {
  const dd = alert.context?.drilldown;
  const top = dd?.dimensions[0];
  if (!alert.segment || dd?.classification !== 'localised' || !top) return undefined;
  if (top.dimension === alert.segment.dimension) return undefined;
  const value = top.top[0]?.value;
  if (value === undefined) return undefined;
  const explainer = alertKey(alert.rule, { dimension: top.dimension, value });
  return deliveredAt(explainer) ? explainer : undefined;
}

/** "Materially worse": at least half again the announced change and at least 10 points more. */
export function materiallyWorse(change: number, sent: number): boolean {
  return change >= sent * 1.5 && change - sent >= 0.1;
}

/**
 * The dedup stage: what a group's next notification is now, if any, compared with what was last sent.
 * `drop` means the group ended without ever notifying (every member resolved within group_wait).
 */
export function nextAction(g: GroupState, now: number, o: Grouping): GroupAction | 'drop' | null {
  const firing = firingMembers(g);
  if (!g.sent) {
    if (firing.length === 0) return 'drop';
    return now - g.openedAt >= o.groupWaitMs ? 'trigger' : null;
  }
  if (now - g.sent.at < o.groupIntervalMs) return null;
  const sentFiring = new Set(g.sent.firing);
  const sentResolved = new Set(g.sent.resolved);
  const resolved = Object.values(g.members).filter((m) => m.status === 'resolved');
  const changed =
    firing.length !== sentFiring.size ||
    firing.some((m) => !sentFiring.has(m.key)) ||
    resolved.some((m) => !sentResolved.has(m.key)) ||
    (firing[0] !== undefined && !g.headline.evidence?.guard && materiallyWorse(firing[0].change, g.sent.change));
  if (changed) return firing.length === 0 ? 'resolve' : 'update';
  if (o.repeatIntervalMs > 0 && firing.length > 0 && now - g.sent.at >= o.repeatIntervalMs) return 'reminder';
  return null;
}

const EVENT: Record<GroupAction, DeliveryEvent> = {
  trigger: 'firing',
  update: 'updated',
  resolve: 'resolved',
  reminder: 'reminder',
};

/** The segment the drill-down of the group's funnel-wide member names as the cause, if it names one. */
export function explainingSegment(headline: AlertTransition): string | undefined {
  const dd = headline.context?.drilldown;
  const top = dd?.dimensions[0]?.top[0];
  if (dd?.classification !== 'localised' || !top) return undefined;
  return `${dd.dimensions[0]!.dimension}=${top.value}`;
}

/**
 * The job that notifies `action` for a group, and the group as it stands after it (its `sent` record).
 * The job's `alert` is the group's headline (its worst member), so every receiver words its message from one
 * alert and lists the rest from `job.group`.
 */
export function groupJob(g: GroupState, action: GroupAction, now: number): { job: DeliveryJob; next: GroupState } {
  const firing = firingMembers(g);
  // Firing members first, worst first; then the resolved ones.
  const all = [
    ...firing,
    ...Object.values(g.members)
      .filter((m) => m.status !== 'firing')
      .sort(compareMembers),
  ];
  const worst = firing[0] ?? all[0];
  const severity = (worst?.severity ?? g.headline.severity) as Severity;
  const sentSeverity = g.sent?.severity;
  const severityRose =
    action === 'update' && sentSeverity !== undefined && severityRank(severity) > severityRank(sentSeverity);
  const change = worst?.change ?? 0;
  const cause = explainingSegment(g.headline);
  const sentFiring = new Set(g.sent?.firing ?? []);
  const sentResolved = new Set(g.sent?.resolved ?? []);
  const notice: GroupNotice = {
    id: g.id,
    key: g.key,
    labels: g.labels,
    action,
    members: all,
    worst: worst?.key ?? '',
    severityRose,
    firing: firing.length,
    resolved: all.length - firing.length,
    ...(cause ? { cause } : {}),
    ...(g.headline.context?.drilldown?.classification === 'global' ? { spread: true } : {}),
    joined: firing.filter((m) => !sentFiring.has(m.key)).map((m) => m.key),
    left: all.filter((m) => m.status === 'resolved' && !sentResolved.has(m.key)).map((m) => m.key),
  };
  const event = EVENT[action];
  const repeat = action === 'update' || action === 'reminder';
  const alert: AlertTransition =
    action === 'resolve' ? { ...g.headline, kind: 'resolved', at: now, to: 'resolved' } : { ...g.headline };
  const job: DeliveryJob = {
    id: `${g.id}/${event}${repeat ? `@${now}` : ''}/${g.receiver}`,
    receiver: g.receiver,
    event,
    alert,
    createdAt: now,
    attempt: 0,
    group: notice,
  };
  const sent: SentRecord = {
    at: now,
    action,
    firing: firing.map((m) => m.key),
    resolved: all.filter((m) => m.status === 'resolved').map((m) => m.key),
    severity,
    change: action === 'reminder' && g.sent ? g.sent.change : change,
  };
  return { job, next: { ...g, sent } };
}

/** PagerDuty's dedup key of a group: one incident per group (at most 255 characters). */
export function groupDedupKey(groupId: string): string {
  return `funnelwatch/group/${createHash('sha256').update(groupId).digest('hex').slice(0, 40)}`;
}
