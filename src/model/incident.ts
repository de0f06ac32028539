/**
 * An incident: one firing period of one (rule, segment), from the look that fired it until its state leaves
 * resolved. Its fields live inside the alert state (model/alert-state.ts) so a new leader continues it; the engine
 * opens and closes it. What was notified, and where, is notify's: the incident groups (notify/grouping.ts) and the
 * delivery log (notify/delivery-log.ts).
 */
import type { AlertContext } from './alert-context.js';
import type { Evidence } from './evidence.js';

export interface Incident {
  /** `${alertKey}@${firedAt}`: stable for the incident, the base of its transition and delivery job ids. */
  incidentId?: string;
  firedAt?: number;
  resolvedAt?: number;
  /** Evidence at the worst relativeChange while firing. */
  peak?: Evidence;
  /** Likely cause, worked out when the incident fired: deploys near the onset and the drill-down. */
  context?: AlertContext;
}
