/**
 * An incident: one firing period of one (rule, segment), from the look that fired it until its state leaves
 * resolved. Its fields live inside the alert state (model/alert-state.ts) so a new leader continues it; the engine
 * opens and closes it, the delivery planner (notify/plan.ts) writes `notices` and `announced`.
 */
import type { AlertContext } from './alert-context.js';
import type { Evidence } from './evidence.js';

/**
 * How the open incident was announced to one receiver: `at` when its firing job was queued, or `muted` (a silence
 * id, or `inhibited:<dimension>=<value>`) when it was held back. A resolve goes only where a firing job went.
 */
export interface Notice {
  at: number;
  muted?: string;
}

/** The last announcement of an open incident (firing, worsened, reminder): when, and the change it reported. */
export interface Announcement {
  at: number;
  change: number;
}

export interface Incident {
  /** `${alertKey}@${firedAt}`: stable for the incident, the base of its transition and delivery job ids. */
  incidentId?: string;
  firedAt?: number;
  resolvedAt?: number;
  /** Evidence at the worst relativeChange while firing. */
  peak?: Evidence;
  /** Per receiver (notify/plan.ts). */
  notices?: Record<string, Notice>;
  announced?: Announcement;
  /** Likely cause, worked out when the incident fired: deploys near the onset and the drill-down. */
  context?: AlertContext;
}
