/**
 * Where one (rule, segment) stands: the record the engine's state machine (engine/alert-state.ts) steps, the state
 * hash stores, and the API, replay and dashboard show. Plain JSON, so a restart continues where the last leader
 * stopped.
 */
import type { Evidence } from './evidence.js';
import type { Incident } from './incident.js';
import type { SegmentRef } from './segment.js';

export type AlertStatus = 'inactive' | 'insufficient' | 'pending' | 'firing' | 'resolved';

export const ALERT_STATUSES: readonly AlertStatus[] = ['inactive', 'insufficient', 'pending', 'firing', 'resolved'];

export interface AlertState extends Incident {
  rule: string;
  segment: SegmentRef | null;
  status: AlertStatus;
  /** When `status` was entered. */
  since: number;
  pendingSince?: number;
  okSince?: number;
  /**
   * Data time (epoch ms) the last incident on this key resolved at. A new page needs evidence after it: the scan's
   * long windows still hold the old incident for hours, and must not page it again on the next noisy minute.
   */
  scanFrom?: number;
  /** Transitions emitted so far for this key. */
  seq: number;
  evidence?: Evidence;
  lastEvaluated: number;
}
