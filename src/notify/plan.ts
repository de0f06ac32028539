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
 */
import { alertKey } from '../model/alert-key.js';
import type { AlertState } from '../model/alert-state.js';
import type { Notice } from '../model/incident.js';
import type { AlertTransition } from '../model/alert-transition.js';
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
  /** States whose notices/announced changed, by alertKey (to commit with the jobs). */
  states: Map<string, AlertState>;
  notes: PlanNote[];
}

/** "Materially worse": at least half again the announced change and at least this much more in absolute terms. */
const WORSE_FACTOR = 1.5;
const WORSE_MIN_STEP = 0.1;

export function planDeliveries(input: PlanInput): Plan {
  const { now } = input;
  const plan: Plan = { jobs: [], states: new Map(), notes: [] };
  const touched = new Set<string>();

  const job = (alert: AlertTransition, event: DeliveryEvent, receiver: string, repeat: boolean): DeliveryJob => ({
    id: `${alert.incidentId ?? alertKey(alert.rule, alert.segment)}/${event}${repeat ? `@${now}` : ''}/${receiver}`,
    receiver, event, alert, createdAt: now, attempt: 0,
  });
  const silenceFor = (alert: AlertTransition): ((r: string) => Silence | undefined) => {
    // Silences match on the alert's labels; `receiver` is one of them so a silence can mute one destination.
    const base = alertLabels(alert);
    return (receiver) => matchingSilence({ ...base, receiver }, input.silences, now);
  };
  const known = (key: string, receiver: string): boolean => {
    if (input.receivers.has(receiver)) return true;
    plan.notes.push({ kind: 'unknown_receiver', key, receiver });
    return false;
  };

  for (const t of input.transitions) {
    if (t.kind !== 'firing' && t.kind !== 'resolved') continue;
    const key = alertKey(t.rule, t.segment);
    const state = plan.states.get(key) ?? input.states.get(key);
    if (!state) continue;
    touched.add(key);
    if (t.kind === 'firing') {
      const silenced = silenceFor(t);
      const notices: Record<string, Notice> = {};
      const cause = explainedElsewhere(t);
      for (const r of t.notify) {
        if (!known(key, r)) continue;
        if (cause) {
          notices[r] = { at: now, muted: `${INHIBITED}${cause}` };
          plan.notes.push({ kind: 'inhibited', key, receiver: r, silence: cause });
          continue;
        }
        const s = silenced(r);
        if (s) {
          notices[r] = { at: now, muted: s.id };
          plan.notes.push({ kind: 'muted', key, receiver: r, silence: s.id });
        } else {
          notices[r] = { at: now };
          plan.jobs.push(job(t, 'firing', r, false));
        }
      }
      plan.states.set(key, { ...state, notices, announced: { at: now, change: changeOf(t) } });
    } else {
      // Where the firing job went. A state from before notices existed falls back to the rule's receivers: the
      // outbox then sends only where it has a record of the trigger.
      const targets = state.notices
        ? Object.entries(state.notices).filter(([, n]) => n.muted === undefined).map(([r]) => r)
        : t.notify;
      for (const r of targets) if (known(key, r)) plan.jobs.push(job(t, 'resolved', r, false));
    }
  }

  for (const [key, state] of input.states) {
    if (state.status !== 'firing' || touched.has(key)) continue;
    const alert = input.describe(key, state);
    if (!alert) continue;
    const silenced = silenceFor(alert);
    const notices: Record<string, Notice> = { ...(state.notices ?? {}) };
    let changed = false;
    for (const r of alert.notify) {
      if (!input.receivers.has(r)) continue; // reported when the incident fired
      const n = notices[r];
      if (n && (n.muted === undefined || n.muted.startsWith(INHIBITED))) continue;
      const s = silenced(r);
      if (s) {
        if (!n) { notices[r] = { at: now, muted: s.id }; changed = true; }
        continue;
      }
      notices[r] = { at: now };
      changed = true;
      plan.jobs.push(job(alert, 'firing', r, false));
      if (n) plan.notes.push({ kind: 'unmuted', key, receiver: r, silence: n.muted });
    }
    const announced = state.announced ?? { at: state.firedAt ?? state.since, change: changeOf(alert) };
    const change = changeOf(alert);
    let event: DeliveryEvent | null = null;
    if (!alert.evidence?.guard && change >= announced.change * WORSE_FACTOR && change - announced.change >= WORSE_MIN_STEP) event = 'worsened';
    else if (input.remindEveryMs > 0 && now - announced.at >= input.remindEveryMs) event = 'reminder';
    let nextAnnounced = state.announced;
    if (event) {
      for (const [r, n] of Object.entries(notices)) {
        if (n.muted !== undefined || n.at === now || !input.receivers.has(r) || silenced(r)) continue;
        plan.jobs.push(job(alert, event, r, true));
      }
      // Announced even when every receiver is silenced: the next reminder counts from here, not in a burst after.
      nextAnnounced = { at: now, change: event === 'worsened' ? change : announced.change };
    }
    if (changed || event || !state.announced) plan.states.set(key, { ...state, notices, ...(nextAnnounced ? { announced: nextAnnounced } : { announced }) });
  }
  return plan;
}

const INHIBITED = 'inhibited:';

/** The segment that carries the deficit when the drill-down places it in another dimension than this alert's. */
function explainedElsewhere(t: AlertTransition): string | undefined {
  const dd = t.context?.drilldown;
  const top = dd?.dimensions[0];
  if (!t.segment || dd?.classification !== 'localised' || !top || top.dimension === t.segment.dimension) return undefined;
  const value = top.top[0]?.value;
  return value === undefined ? undefined : `${top.dimension}=${value}`;
}

/** The change an announcement reports, signed so larger is worse (the detectors sign it so); 0 when unknown. */
function changeOf(t: AlertTransition): number {
  const c = t.evidence?.relativeChange;
  return typeof c === 'number' && Number.isFinite(c) ? c : 0;
}
