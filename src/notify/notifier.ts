/**
 * The notification port: where alert transitions leave the engine. The evaluator hands each committed transition
 * to one Notifier; receivers (the log/console one now, Slack and PagerDuty with the delivery work) implement it.
 * A notifier may throw: the transition is already committed (alert-store.ts), so the caller logs and counts the
 * failure and the alert state is not rolled back. Deduplication and retries belong to the delivery stages, keyed
 * by `AlertTransition.id`.
 */
import type { AlertTransition } from '../model/alert-transition.js';

export type { AlertTransition };

export interface Notifier {
  notify(t: AlertTransition): Promise<void>;
  /** Flushes and releases whatever the receiver holds (connections, queues); called once at shutdown. */
  close?(): Promise<void>;
}
