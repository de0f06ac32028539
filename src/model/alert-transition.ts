/**
 * A transition of one alert, as the alert stream records it and every notification carries it (with the rule's
 * metadata, so a receiver needs nothing else to word its message).
 */
import { alertKey } from './alert-key.js';
import type { AlertContext } from './alert-context.js';
import type { AlertState, AlertStatus } from './alert-state.js';
import type { Evidence } from './evidence.js';
import type { SegmentRef } from './segment.js';

export type AlertTransitionKind = 'pending' | 'firing' | 'resolved' | 'insufficient' | 'recovered_data';

/** The transitions that page people; the others are recorded and logged only. */
export function isPagingTransition(kind: AlertTransitionKind): boolean {
  return kind === 'firing' || kind === 'resolved';
}

export interface AlertTransition {
  /** `${incidentId ?? alertKey}#${seq}`: stable, for deduplication by the delivery side. */
  id: string;
  kind: AlertTransitionKind;
  at: number;
  rule: string;
  funnel: string;
  segment: SegmentRef | null;
  severity: 'critical' | 'warning' | 'info';
  notify: string[];
  /** The rule's own group_by, overriding the receivers' (notify/grouping.ts). */
  groupBy?: string[];
  owner?: string;
  runbook?: string;
  labels: Record<string, string>;
  description?: string;
  incidentId?: string;
  from: AlertStatus;
  to: AlertStatus;
  evidence?: Evidence;
  /** What the rule watches (for wording in messages); absent means a conversion. */
  metric?: 'cohort_conversion' | 'ratio_conversion' | 'step_volume' | 'step_duration';
  /** A conversion rule measured from a later step than the funnel's entry: that step's name. Its evidence volume
   *  counts arrivals at that step ("1,234 reached payment"), not the funnel's entries ("1,234 checkouts"). */
  countedFrom?: string;
  ruleSetVersion: string;
  /** Likely cause: deploys near the onset and the drill-down (model/alert-context.ts); absent until that work
   *  fills it. */
  context?: AlertContext;
}

/** The id of the transition a step emitted: the incident's id once there is one, else the alert key; then seq. */
export function transitionId(state: AlertState): string {
  return `${state.incidentId ?? alertKey(state.rule, state.segment)}#${state.seq}`;
}
