/**
 * The delivery planner: from one evaluation's alert states and transitions, and the incident groups as they stood
 * (grouping.ts), to the delivery jobs and group states the evaluator commits in one fenced step (alert-store.ts).
 * Pure: states, transitions, groups, silences and `now` in; jobs, group writes and notes out.
 *
 * The stages, in Alertmanager's order, per firing alert and receiver of its rule:
 *   1. inhibit   a segment alert explained by another segment that fires and pages this receiver is held back
 *                (grouping.ts inhibitedBy), re-checked every evaluation;
 *   2. silence   an active silence matching the alert's labels (with `receiver`) holds it back; a group whose
 *                firing members are all silenced sends no update or reminder (its resolve still goes);
 *   3. group     the alert joins (or updates) its group of this receiver; a member no longer firing is marked
 *                resolved; a member held back by 1 or 2 before it was ever notified leaves the group, one already
 *                notified stays (a silence never keeps an incident open: its resolve is still sent);
 *   4. dedup     per group, what the next notification is, compared with what was last sent (grouping.ts
 *                nextAction: trigger after group_wait, update / resolve at most every group_interval, reminder
 *                every repeat_interval);
 * then the outbox delivers with retry and records in the delivery log (outbox.ts, delivery-log.ts).
 */
import { alertKey } from '../model/alert-key.js';
import type { AlertState } from '../model/alert-state.js';
import type { AlertTransition } from '../model/alert-transition.js';
import { outboxWrites, type OutboxWrite } from './delivery-log.js';
import {
  firingMembers,
  groupField,
  groupJob,
  groupKey,
  inhibitedBy,
  memberOf,
  nextAction,
  type GroupState,
  type Grouping,
} from './grouping.js';
import type { DeliveryJob } from './receiver.js';
import { alertLabels, matchingSilence, type Silence } from './silences.js';

export interface PlanInput {
  now: number;
  /** Every alert state after this tick's steps, by alertKey. */
  states: ReadonlyMap<string, AlertState>;
  /** This tick's transitions (firing ones carry the freshest context). */
  transitions: readonly AlertTransition[];
  /** The alert of a still-firing state as a notification carries it, or undefined when its rule is gone. */
  describe(key: string, state: AlertState): AlertTransition | undefined;
  silences: readonly Silence[];
  /** Receivers that exist, with their grouping; a name outside it is skipped and reported. */
  receivers: ReadonlyMap<string, Grouping>;
  /** The groups as committed, by groupField. */
  groups: ReadonlyMap<string, GroupState>;
}

export interface PlanNote {
  kind: 'muted' | 'unknown_receiver' | 'inhibited';
  key: string;
  receiver: string;
  /** The silence id, or the explaining alert. */
  silence?: string;
}

/** One write of the groups hash: the group's JSON, or '' to delete it. */
export interface GroupWrite {
  field: string;
  value: string;
}

export interface Plan {
  jobs: DeliveryJob[];
  /** The jobs as the fenced alert commit writes them (with the trigger's pending mark in the delivery log). */
  outbox: OutboxWrite[];
  /** Groups that changed, to commit with the jobs. */
  groupWrites: GroupWrite[];
  /** The groups after this plan, by groupField. */
  groups: Map<string, GroupState>;
  /** Per firing alert (alertKey), the receivers whose incident group holds it (not held back there). */
  placed: Map<string, string[]>;
  notes: PlanNote[];
}

/** Which active silence (if any) holds back `alert` at one receiver. */
export type SilenceLookup = (receiver: string) => Silence | undefined;

export function silenceLookup(alert: AlertTransition, silences: readonly Silence[], now: number): SilenceLookup {
  // Silences match on the alert's labels; `receiver` is one of them so a silence can mute one destination.
  const base = alertLabels(alert);
  return (receiver) => matchingSilence({ ...base, receiver }, silences, now);
}

/** The firing alerts of this tick, by alertKey: this tick's firing transitions, else the described state. */
export function firingAlerts(
  input: Pick<PlanInput, 'states' | 'transitions' | 'describe'>,
): Map<string, AlertTransition> {
  const fresh = new Map<string, AlertTransition>();
  for (const t of input.transitions) if (t.kind === 'firing') fresh.set(alertKey(t.rule, t.segment), t);
  const out = new Map<string, AlertTransition>();
  for (const [key, state] of input.states) {
    if (state.status !== 'firing') continue;
    const a = fresh.get(key) ?? input.describe(key, state);
    if (a) out.set(key, a);
  }
  return out;
}

/** Whether the member `key` was in the last notification of `g` as firing. */
function notifiedFiring(g: GroupState | undefined, key: string): boolean {
  return g?.sent?.firing.includes(key) ?? false;
}

export function planDeliveries(input: PlanInput): Plan {
  const { now } = input;
  const notes: PlanNote[] = [];
  const alerts = firingAlerts(input);
  /** Alerts that fired this tick: what holds them back is reported then, not at every evaluation. */
  const firedNow = new Set(
    input.transitions.filter((t) => t.kind === 'firing').map((t) => alertKey(t.rule, t.segment)),
  );
  const groups = new Map(input.groups);
  const touched = new Set<string>();
  /** The group (field) each firing alert belongs to per receiver, before the inhibition stage. */
  /** field|alertKey of alerts silenced at the group's receiver (notified members stay, but are not news). */
  const quiet = new Set<string>();
  const placement = new Map<string, Map<string, { field: string; key: string; labels: Record<string, string> }>>();

  // Stage 2 and the grouping key first: inhibition asks whether the explainer is a member at the receiver.
  for (const [key, a] of alerts) {
    const silenced = silenceLookup(a, input.silences, now);
    const labels = alertLabels(a);
    for (const r of new Set(a.notify)) {
      const grouping = input.receivers.get(r);
      if (!grouping) {
        if (firedNow.has(key)) notes.push({ kind: 'unknown_receiver', key, receiver: r });
        continue;
      }
      const gk = groupKey(labels, a.groupBy ?? grouping.groupBy);
      const field = groupField(r, gk.key);
      const s = silenced(r);
      if (s) quiet.add(`${field}\u0000${key}`);
      if (s && !notifiedFiring(groups.get(field), key)) {
        if (firedNow.has(key) || groups.get(field)?.members[key])
          notes.push({ kind: 'muted', key, receiver: r, silence: s.id });
        continue;
      }
      let p = placement.get(r);
      if (!p) placement.set(r, (p = new Map()));
      p.set(key, { field, ...gk });
    }
  }

  // Stage 1: inhibition, against what pages each receiver now.
  for (const [r, p] of placement) {
    const held: string[] = [];
    for (const [key, at] of p) {
      if (notifiedFiring(groups.get(at.field), key)) continue;
      const by = inhibitedBy(alerts.get(key)!, (explainer) => explainer !== key && p.has(explainer));
      if (by) held.push(key);
      if (by && (firedNow.has(key) || groups.get(at.field)?.members[key]))
        notes.push({ kind: 'inhibited', key, receiver: r, silence: by });
    }
    for (const k of held) p.delete(k);
  }

  // Stage 3: group.
  const seen = new Set<string>(); // field|alertKey
  const placed = new Map<string, string[]>();
  for (const [r, p] of placement) {
    for (const [key, at] of p) {
      placed.set(key, [...(placed.get(key) ?? []), r]);
      const a = alerts.get(key)!;
      const state = input.states.get(key);
      let g = groups.get(at.field);
      if (!g) {
        g = {
          receiver: r,
          key: at.key,
          labels: at.labels,
          id: `${r}/${at.key}@${now}`,
          openedAt: now,
          members: {},
          headline: a,
        };
      }
      const prior = g.members[key];
      const member = memberOf(key, a, state?.firedAt ?? a.at);
      const same = prior && JSON.stringify(prior) === JSON.stringify(member);
      if (!same) {
        g = { ...g, members: { ...g.members, [key]: member } };
        groups.set(at.field, g);
        touched.add(at.field);
      } else if (!groups.has(at.field)) groups.set(at.field, g);
      seen.add(`${at.field}\u0000${key}`);
    }
  }
  // Members that no longer fire here (resolved, rule gone, held back now, receiver dropped from the rule): resolved
  // when the last notification told of them firing; otherwise nobody heard of them, and they just leave.
  for (const [field, g0] of groups) {
    let g = g0;
    for (const [key, m] of Object.entries(g.members)) {
      if (m.status !== 'firing' || seen.has(`${field}\u0000${key}`)) continue;
      const members = { ...g.members };
      if (notifiedFiring(g, key)) members[key] = { ...m, status: 'resolved', resolvedAt: now };
      else delete members[key];
      g = { ...g, members };
    }
    if (g !== g0) {
      groups.set(field, g);
      touched.add(field);
    }
  }
  // The headline: the worst firing member, with its freshest alert.
  for (const [field, g] of groups) {
    const worst = firingMembers(g)[0];
    const a = worst && alerts.get(worst.key);
    if (a && JSON.stringify(a) !== JSON.stringify(g.headline)) {
      groups.set(field, { ...g, headline: a });
      touched.add(field);
    }
  }

  // Stage 4: dedup against what was sent, and the jobs.
  const jobs: DeliveryJob[] = [];
  const groupWrites: GroupWrite[] = [];
  for (const [field, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const grouping = input.receivers.get(g.receiver);
    let action = grouping ? nextAction(g, now, grouping) : g.sent ? 'resolve' : 'drop';
    // Every firing member silenced here: no updates or reminders (the resolve still goes).
    const firing = firingMembers(g);
    if ((action === 'update' || action === 'reminder') && firing.every((m) => quiet.has(`${field}\u0000${m.key}`)))
      action = null;
    if (action === 'drop' || (action === null && Object.keys(g.members).length === 0)) {
      groups.delete(field);
      if (input.groups.has(field)) groupWrites.push({ field, value: '' });
      continue;
    }
    if (action === null) {
      if (touched.has(field)) groupWrites.push({ field, value: JSON.stringify(g) });
      continue;
    }
    const { job, next } = groupJob(g, action, now);
    jobs.push(job);
    if (action === 'resolve') {
      groups.delete(field);
      groupWrites.push({ field, value: '' });
    } else {
      groups.set(field, next);
      groupWrites.push({ field, value: JSON.stringify(next) });
    }
  }
  return { jobs, outbox: outboxWrites(jobs), groupWrites, groups, placed, notes };
}

/** How the evaluator words a note in its log, and at which level. */
export function noteMessage(n: PlanNote): { level: 'error' | 'info'; message: string } {
  if (n.kind === 'unknown_receiver') {
    return { level: 'error', message: 'alert names a receiver that is not configured; nothing is sent there' };
  }
  const message =
    n.kind === 'muted'
      ? 'page muted by a silence'
      : `page held back: the drill-down places the cause in ${n.silence ?? 'another segment'}, ` +
        'which fires and pages this receiver';
  return { level: 'info', message };
}
