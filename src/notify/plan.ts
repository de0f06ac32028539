/**
 * The delivery planner: from one evaluation tick's alert states and transitions to the delivery jobs that go into
 * the outbox in the same fenced commit (alert-store.ts), and the bookkeeping in each state that keeps the jobs
 * right across ticks, leaders and restarts. Pure: states, transitions, silences and `now` in; jobs and new states out.
 *
 * Per incident and receiver (AlertState.notices):
 *   - firing transition: a `firing` job to every receiver of the rule, unless an active silence matches the alert;
 *     then the receiver is marked muted by that silence and gets nothing.
 *   - still firing, every tick:
 *       · a muted receiver whose silence no longer matches gets its `firing` job now (a silence that ends while
 *         the drop goes on must not hide it for good); so does a receiver added to the rule mid-incident;
 *       · the drop grew materially since the last announcement (at least half again and 10 points more, e.g.
 *         12% → 30%): a `worsened` job to each announced receiver not silenced now;
 *       · `remindEveryMs` since the last announcement: a `reminder` job likewise (Slack: a thread reply, not a page).
 *   - resolved transition: a `resolved` job to every receiver that got the `firing` job, silenced or not: a
 *     silence never keeps an open incident open, and a receiver that never heard of the incident (muted, added
 *     later) gets no resolve for it.
 * Inhibition by the drill-down: a segment alert (platform=ios) that fires while the drill-down localises the
 * deficit in another dimension (payment_provider=adyen carries it) is a side effect of that cause, not news: its
 * receivers are marked muted by `inhibited:<dimension>=<value>` and get nothing for this incident, so one provider's
 * outage pages for the provider (and the funnel), not once per platform and app version as well.
 * Job ids are stable per incident, receiver and event (and time, for repeats), so the outbox recognises a replay.
 *
 * The evaluator crosses into notify once per tick: `planDeliveries` returns the jobs, the states to commit with them
 * and the outbox writes (delivery-log.ts) its fenced commit takes as they are. Each decision above is a small pure
 * function below (jobFor, explainedElsewhere, announceFiring, resolveTargets, catchUp, repeatEvent, repeatTargets),
 * unit-tested on its own; planDeliveries only walks the transitions and the firing states and combines them.
 */
import { alertKey } from '../model/alert-key.js';
import type { AlertState } from '../model/alert-state.js';
import type { AlertTransition } from '../model/alert-transition.js';
import type { Announcement, Notice } from '../model/incident.js';
import { outboxWrites, type OutboxWrite } from './delivery-log.js';
import type { DeliveryEvent, DeliveryJob } from './receiver.js';
import { alertLabels, matchingSilence, type Silence } from './silences.js';

export interface PlanInput {
  now: number;
  /** Every alert state after this tick's steps, by alertKey. */
  states: ReadonlyMap<string, AlertState>;
  /** This tick's transitions (only firing and resolved lead to jobs). */
  transitions: readonly AlertTransition[];
  /**
   * The alert of a still-firing state as a notification would carry it (rule metadata, current evidence), or
   * undefined when its rule is gone (its resolve comes from the evaluator).
   */
  describe(key: string, state: AlertState): AlertTransition | undefined;
  silences: readonly Silence[];
  /** Receivers that exist; a name outside it is skipped and reported (the rule loader normally prevents it). */
  receivers: ReadonlySet<string>;
  /** 0 turns reminders off. */
  remindEveryMs: number;
}

export interface PlanNote {
  kind: 'muted' | 'unmuted' | 'unknown_receiver' | 'inhibited';
  key: string;
  receiver: string;
  silence?: string;
}

export interface Plan {
  jobs: DeliveryJob[];
  /** The jobs as the fenced alert commit writes them (with the trigger's pending mark in the delivery log). */
  outbox: OutboxWrite[];
  /** States whose notices/announced changed, by alertKey (to commit with the jobs). */
  states: Map<string, AlertState>;
  notes: PlanNote[];
}

/** "Materially worse": at least half again the announced change and at least this much more in absolute terms. */
const WORSE_FACTOR = 1.5;
const WORSE_MIN_STEP = 0.1;
const INHIBITED = 'inhibited:';

/** Which active silence (if any) holds back `alert` at one receiver. */
export type SilenceLookup = (receiver: string) => Silence | undefined;

export function silenceLookup(alert: AlertTransition, silences: readonly Silence[], now: number): SilenceLookup {
  // Silences match on the alert's labels; `receiver` is one of them so a silence can mute one destination.
  const base = alertLabels(alert);
  return (receiver) => matchingSilence({ ...base, receiver }, silences, now);
}

/** A job with an id stable per incident, event and receiver; a repeat (worsened, reminder) adds its time. */
export function jobFor(
  alert: AlertTransition,
  event: DeliveryEvent,
  receiver: string,
  now: number,
  repeat: boolean,
): DeliveryJob {
  return {
    id: `${alert.incidentId ?? alertKey(alert.rule, alert.segment)}/${event}${repeat ? `@${now}` : ''}/${receiver}`,
    receiver,
    event,
    alert,
    createdAt: now,
    attempt: 0,
  };
}

/** The segment that carries the deficit when the drill-down places it in another dimension than this alert's. */
export function explainedElsewhere(t: AlertTransition): string | undefined {
  const dd = t.context?.drilldown;
  const top = dd?.dimensions[0];
  if (!t.segment || dd?.classification !== 'localised' || !top) return undefined;
  if (top.dimension === t.segment.dimension) return undefined;
  const value = top.top[0]?.value;
  return value === undefined ? undefined : `${top.dimension}=${value}`;
}

/** The change an announcement reports, signed so larger is worse (the detectors sign it so); 0 when unknown. */
export function changeOf(t: AlertTransition): number {
  const c = t.evidence?.relativeChange;
  return typeof c === 'number' && Number.isFinite(c) ? c : 0;
}

/**
 * A firing transition, per receiver of the rule, in order: unknown (skipped, reported), inhibited by the
 * drill-down, muted by a silence, or sent a firing job. Returns the incident's notices, the receivers to page and
 * the notes.
 */
export function announceFiring(
  t: AlertTransition,
  key: string,
  receivers: ReadonlySet<string>,
  silenced: SilenceLookup,
  now: number,
): { notices: Record<string, Notice>; send: string[]; notes: PlanNote[] } {
  const notices: Record<string, Notice> = {};
  const send: string[] = [];
  const notes: PlanNote[] = [];
  const cause = explainedElsewhere(t);
  for (const r of t.notify) {
    if (!receivers.has(r)) {
      notes.push({ kind: 'unknown_receiver', key, receiver: r });
      continue;
    }
    if (cause) {
      notices[r] = { at: now, muted: `${INHIBITED}${cause}` };
      notes.push({ kind: 'inhibited', key, receiver: r, silence: cause });
      continue;
    }
    const s = silenced(r);
    if (s) {
      notices[r] = { at: now, muted: s.id };
      notes.push({ kind: 'muted', key, receiver: r, silence: s.id });
    } else {
      notices[r] = { at: now };
      send.push(r);
    }
  }
  return { notices, send, notes };
}

/**
 * Where a resolve goes: where the firing job went. A state from before notices existed falls back to the rule's
 * receivers: the outbox then sends only where it has a record of the trigger.
 */
export function resolveTargets(state: AlertState, t: AlertTransition): string[] {
  return state.notices
    ? Object.entries(state.notices)
        .filter(([, n]) => n.muted === undefined)
        .map(([r]) => r)
    : t.notify;
}

/**
 * A still-firing incident, per receiver of the rule: one whose silence ended, or one added to the rule mid-incident,
 * gets its firing job now; one newly silenced is marked muted. Announced and inhibited receivers are left alone.
 */
export function catchUp(
  notify: readonly string[],
  prior: Readonly<Record<string, Notice>> | undefined,
  key: string,
  receivers: ReadonlySet<string>,
  silenced: SilenceLookup,
  now: number,
): { notices: Record<string, Notice>; send: string[]; notes: PlanNote[]; changed: boolean } {
  const notices: Record<string, Notice> = { ...(prior ?? {}) };
  const send: string[] = [];
  const notes: PlanNote[] = [];
  let changed = false;
  for (const r of notify) {
    if (!receivers.has(r)) continue; // reported when the incident fired
    const n = notices[r];
    if (n && (n.muted === undefined || n.muted.startsWith(INHIBITED))) continue;
    const s = silenced(r);
    if (s) {
      if (!n) {
        notices[r] = { at: now, muted: s.id };
        changed = true;
      }
      continue;
    }
    notices[r] = { at: now };
    changed = true;
    send.push(r);
    if (n) notes.push({ kind: 'unmuted', key, receiver: r, silence: n.muted });
  }
  return { notices, send, notes, changed };
}

/**
 * Whether a still-firing incident is announced again: `worsened` when the drop grew materially since the last
 * announcement (not on a data guard's evidence), else `reminder` once `remindEveryMs` passed (0: never), else null.
 */
export function repeatEvent(
  alert: AlertTransition,
  announced: Announcement,
  now: number,
  remindEveryMs: number,
): 'worsened' | 'reminder' | null {
  const change = changeOf(alert);
  const worse = change >= announced.change * WORSE_FACTOR && change - announced.change >= WORSE_MIN_STEP;
  if (!alert.evidence?.guard && worse) return 'worsened';
  if (remindEveryMs > 0 && now - announced.at >= remindEveryMs) return 'reminder';
  return null;
}

/** Who hears a repeat: receivers announced earlier (not this tick), not muted then and not silenced now. */
export function repeatTargets(
  notices: Readonly<Record<string, Notice>>,
  receivers: ReadonlySet<string>,
  silenced: SilenceLookup,
  now: number,
): string[] {
  return Object.entries(notices)
    .filter(([r, n]) => n.muted === undefined && n.at !== now && receivers.has(r) && !silenced(r))
    .map(([r]) => r);
}

export function planDeliveries(input: PlanInput): Plan {
  const { now, receivers } = input;
  const jobs: DeliveryJob[] = [];
  const states = new Map<string, AlertState>();
  const notes: PlanNote[] = [];
  const touched = new Set<string>();

  for (const t of input.transitions) {
    if (t.kind !== 'firing' && t.kind !== 'resolved') continue;
    const key = alertKey(t.rule, t.segment);
    const state = states.get(key) ?? input.states.get(key);
    if (!state) continue;
    touched.add(key);
    if (t.kind === 'firing') {
      const a = announceFiring(t, key, receivers, silenceLookup(t, input.silences, now), now);
      notes.push(...a.notes);
      for (const r of a.send) jobs.push(jobFor(t, 'firing', r, now, false));
      states.set(key, { ...state, notices: a.notices, announced: { at: now, change: changeOf(t) } });
    } else {
      for (const r of resolveTargets(state, t)) {
        if (receivers.has(r)) jobs.push(jobFor(t, 'resolved', r, now, false));
        else notes.push({ kind: 'unknown_receiver', key, receiver: r });
      }
    }
  }

  for (const [key, state] of input.states) {
    if (state.status !== 'firing' || touched.has(key)) continue;
    const alert = input.describe(key, state);
    if (!alert) continue;
    const silenced = silenceLookup(alert, input.silences, now);
    const c = catchUp(alert.notify, state.notices, key, receivers, silenced, now);
    notes.push(...c.notes);
    for (const r of c.send) jobs.push(jobFor(alert, 'firing', r, now, false));
    const announced = state.announced ?? { at: state.firedAt ?? state.since, change: changeOf(alert) };
    const event = repeatEvent(alert, announced, now, input.remindEveryMs);
    let nextAnnounced = state.announced;
    if (event) {
      for (const r of repeatTargets(c.notices, receivers, silenced, now)) jobs.push(jobFor(alert, event, r, now, true));
      // Announced even when every receiver is silenced: the next reminder counts from here, not in a burst after.
      nextAnnounced = { at: now, change: event === 'worsened' ? changeOf(alert) : announced.change };
    }
    if (c.changed || event || !state.announced) {
      const a = nextAnnounced ? { announced: nextAnnounced } : { announced };
      states.set(key, { ...state, notices: c.notices, ...a });
    }
  }
  return { jobs, outbox: outboxWrites(jobs), states, notes };
}

/** How the evaluator words a note in its log, and at which level. */
export function noteMessage(n: PlanNote): { level: 'error' | 'info'; message: string } {
  if (n.kind === 'unknown_receiver') {
    return { level: 'error', message: 'alert names a receiver that is not configured; nothing is sent there' };
  }
  const message =
    n.kind === 'muted'
      ? 'page muted by a silence'
      : n.kind === 'inhibited'
        ? `page held back: ` +
          `the drill-down places the cause in ${n.silence ?? 'another dimension'}, which pages on its own`
        : 'silence over while the alert still fires: paging now';
  return { level: 'info', message };
}
