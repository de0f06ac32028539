/**
 * The alert state machine of one (rule, segment), as a pure function: the previous state, what one evaluation
 * concluded, and the time in; the next state and the transition it made out (the records themselves are shared
 * with notify, the API and replay, in src/model/). No I/O and no clock: the evaluator
 * passes `now`, the store persists the states, the notifier delivers the transitions. Keeping it pure is what makes
 * a restart continue exactly where the last leader stopped (the state is plain JSON) and what lets replay and
 * backtest drive it on virtual time.
 *
 * Statuses: inactive (nothing wrong), pending (breaching, waiting out `for`), firing, resolved (back to normal after
 * firing; the next ok look makes it inactive), insufficient (too little data to judge).
 *
 * Arrows, by observation (`forMs` = the rule's `for`, `resolveAfterMs` = its `resolve_after`; all comparisons of
 * elapsed time are ≥, so `for: 5m` fires on the look exactly 5 minutes after pending began):
 *
 *   from \ on     breach                           ok                          insufficient          inhibited
 *   inactive      pending (firing if forMs = 0)    inactive                    insufficient [T]      inactive
 *   resolved      pending (firing if forMs = 0)    inactive                    insufficient [T]      resolved
 *   insufficient  pending (firing if forMs = 0)    inactive [recovered_data]   insufficient          insufficient
 *   pending       firing once now − pendingSince   inactive (cancelled, no     pending (does not     pending (as
 *                 ≥ forMs, else pending            transition)                 advance)              insufficient)
 *   firing        firing (okSince cleared, peak    firing, okSince set on the  firing, okSince       firing, okSince
 *                 updated)                         first ok; resolved once     cleared               cleared
 *                                                  now − okSince ≥ resolveAfterMs
 *                                                  (data time with okFrom [D])
 *
 * [D] A rule's ok look says from when its newest data shows the recovery (`okFrom`): okSince is then that data time
 * (never before the data of the previous, not-ok look) and the countdown runs to the look's `evaluatedUpTo`. A
 * provider back at 10:00 whose 10:00–10:02 data the 10:02 look finds recovered has been ok for two minutes then,
 * not zero: counting from the look would add the minutes the resolve test needed to resolve_after.
 *
 * [T] marks an arrow that emits the transition of the same name as the target status; every change into pending,
 * firing and resolved emits one too. The cancelled pending and the quiet resolved → inactive emit none, but their
 * state is still meant to be persisted.
 *
 * Why 'insufficient' and 'inhibited' (a data-quality guard: data_stale, no_traffic) neither fire nor resolve: a
 * funnel with no data is not evidence that conversion recovered, nor that it dropped. A firing alert stays firing
 * and its resolve countdown restarts once data is back; a pending one keeps its start but needs a real breach
 * observation to fire. An inhibited look leaves inactive/resolved/insufficient alone because the guard is reported
 * on its own (one "data stale" message, not one per rule).
 *
 * Only 'firing' and 'resolved' transitions page people (`isPagingTransition`, model/alert-transition.ts);
 * 'pending', 'insufficient' and 'recovered_data' are for logs, the API and the UI.
 *
 * `seq` counts the transitions emitted for the key, so `${incidentId ?? alertKey}#${seq}` identifies a notification
 * for deduplication. `since` is when the current status was entered. `peak` is the evidence at the largest
 * relativeChange seen on a breach while firing: the detectors sign it positive in the rule's bad direction
 * ((expected − observed)/expected for drops, the reverse for increases), so larger is worse for both. An
 * incident's fields (incidentId, firedAt, resolvedAt, peak, context) live from firing until the state leaves
 * resolved.
 */

import { alertKey } from '../model/alert-key.js';
import type { AlertState, AlertStatus } from '../model/alert-state.js';
import type { AlertTransitionKind } from '../model/alert-transition.js';
import type { Evidence } from '../model/evidence.js';
import type { SegmentRef } from '../model/segment.js';

/**
 * What one evaluation concluded for one (rule, segment). 'inhibited' = a data-quality guard (data_stale / no_traffic)
 * holds the funnel.
 */
export type Condition = 'breach' | 'ok' | 'insufficient' | 'inhibited';

export interface Observation {
  condition: Condition;
  evidence?: Evidence;
  /**
   * On an ok look of a rule's series: the data time (epoch ms) from which the newest data shows the recovery (the
   * start of the window that passed the resolve test). The resolve countdown then runs in data time, from there
   * to `evidence.evaluatedUpTo`, never from before the data of the last look that was not ok.
   */
  okFrom?: number;
}

export interface StateRules {
  forMs: number;
  resolveAfterMs: number;
}

export interface Step {
  next: AlertState;
  transition: AlertTransitionKind | null;
}

/** The fields of an incident, dropped when a state leaves resolved or a pending alert is cancelled. */
const INCIDENT_FIELDS = ['pendingSince', 'okSince', 'incidentId', 'firedAt', 'resolvedAt', 'peak', 'context'] as const;

/** How bad a look was, for `peak`; a missing or non-finite change (JSON turns Infinity into null) ranks lowest. */
function badness(e: Evidence | undefined): number {
  const m = e?.relativeChange;
  return typeof m === 'number' && Number.isFinite(m) ? m : -Infinity;
}

/**
 * One evaluation of one (rule, segment): the arrows in the module header. `prev` undefined is a key never seen
 * (an inactive state entered now).
 */
export function stepAlert(
  prev: AlertState | undefined,
  rule: string,
  segment: SegmentRef | null,
  obs: Observation,
  now: number,
  r: StateRules,
): Step {
  const cur: AlertState = prev ?? { rule, segment, status: 'inactive', since: now, seq: 0, lastEvaluated: now };
  const base: AlertState = { ...cur, rule, segment, lastEvaluated: now };
  if (obs.evidence) base.evidence = obs.evidence;
  const c = obs.condition;

  const stay = (patch: Partial<AlertState> = {}): Step => ({ next: tidy({ ...base, ...patch }), transition: null });
  const go = (
    status: AlertStatus,
    transition: AlertTransitionKind | null,
    patch: Partial<AlertState> = {},
    clearIncident = false,
  ): Step => {
    const next: AlertState = { ...base, status, since: status === cur.status ? cur.since : now };
    if (clearIncident) for (const f of INCIDENT_FIELDS) delete next[f];
    Object.assign(next, patch);
    if (transition) next.seq = cur.seq + 1;
    return { next: tidy(next), transition };
  };
  const fire = (pendingSince: number): Step =>
    go('firing', 'firing', {
      pendingSince,
      okSince: undefined,
      incidentId: `${alertKey(rule, segment)}@${now}`,
      firedAt: now,
      resolvedAt: undefined,
      peak: obs.evidence,
      context: undefined,
    });
  // A new pending period; the previous incident's fields go (fire() replaces all of them). With forMs = 0 the
  // pending period is already long enough on its first look, so it fires at once.
  const startPending = (): Step => (r.forMs <= 0 ? fire(now) : go('pending', 'pending', { pendingSince: now }, true));

  switch (cur.status) {
    case 'inactive':
    case 'resolved':
    case 'insufficient': {
      if (c === 'breach') return startPending();
      if (c === 'ok') {
        if (cur.status === 'insufficient') return go('inactive', 'recovered_data', {}, true);
        if (cur.status === 'resolved') return go('inactive', null, {}, true);
        return stay();
      }
      if (c === 'insufficient') {
        return cur.status === 'insufficient' ? stay() : go('insufficient', 'insufficient', {}, true);
      }
      return stay(); // inhibited: the guard is reported on its own
    }
    case 'pending': {
      const pendingSince = cur.pendingSince ?? cur.since;
      if (c === 'breach') return now - pendingSince >= r.forMs ? fire(pendingSince) : stay({ pendingSince });
      if (c === 'ok') return go('inactive', null, {}, true);
      return stay({ pendingSince }); // insufficient / inhibited: hold, but only a breach look may fire
    }
    case 'firing': {
      if (c === 'breach') {
        const peak =
          cur.peak === undefined || badness(obs.evidence) > badness(cur.peak) ? (obs.evidence ?? cur.peak) : cur.peak;
        return stay({ okSince: undefined, peak });
      }
      if (c === 'ok') {
        const dataTo = obs.evidence?.evaluatedUpTo;
        const clock = obs.okFrom !== undefined && dataTo !== undefined ? dataTo : now;
        const okSince =
          cur.okSince ??
          (obs.okFrom !== undefined
            ? Math.min(clock, Math.max(obs.okFrom, cur.evidence?.evaluatedUpTo ?? -Infinity))
            : now);
        if (clock - okSince >= r.resolveAfterMs)
          return go('resolved', 'resolved', {
            okSince: undefined,
            resolvedAt: now,
            scanFrom: obs.evidence?.evaluatedUpTo ?? now,
          });
        return stay({ okSince });
      }
      return stay({ okSince: undefined }); // no data is not a recovery: the resolve countdown restarts later
    }
  }
  // A stored status this version does not know (hand-edited, or written by a newer release): start over quietly.
  return go('inactive', null, {}, true);
}

/** Drops undefined fields, so a state equals itself after a JSON round trip (restart continuity). */
function tidy(s: AlertState): AlertState {
  for (const k of Object.keys(s) as (keyof AlertState)[]) if (s[k] === undefined) delete s[k];
  return s;
}
