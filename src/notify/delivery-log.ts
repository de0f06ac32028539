/**
 * The delivery log: what was sent where, per (receiver, incident), in the hash `<prefix>:{alerts}:delivery`
 * (field `receiver|incident`). It is notify's own bookkeeping, the notification log a restart reads so it never
 * pages twice: `pending` once the evaluator queued the incident's trigger, `open` once a receiver took it (with
 * the receiver's handle on it: Slack channel and ts, PagerDuty dedup key), `failed` or `closed` after.
 *
 * Two writers, each atomic with its own step: the fenced alert commit (engine/lua/alert-commit-1.lua) marks a
 * trigger `pending` in the same Lua call that queues its job (it receives the `OutboxWrite`s below ready-made, so
 * the engine never learns this layout), and the outbox's settle script (lua/outbox-settle-3.lua) records what a
 * delivery changed. The outbox reads it to keep an incident's jobs in order (outbox.ts).
 */
import { opensIncident, type DeliveryJob, type DeliveryRecord } from './receiver.js';

/** What the delivery hash holds per (receiver, incident). */
export interface StoredDelivery {
  state: 'pending' | 'open' | 'failed' | 'closed';
  at: number;
  /** The job that wrote it. */
  job?: string;
  record?: DeliveryRecord;
  failure?: { code: string; reason: string };
}

/**
 * One delivery job as the fenced alert commit writes it, serialised here so the commit stays ignorant of both
 * layouts: `job` goes to the outbox stream; `mark` (a field of the delivery hash, "" for none) is set to `marker`
 * with HSETNX, so a retried commit never downgrades a record a worker already wrote.
 */
export interface OutboxWrite {
  mark: string;
  marker: string;
  job: string;
}

/** The field of a (receiver, incident) in the delivery hash. */
export function deliveryField(receiver: string, incident: string): string {
  return `${receiver}|${incident}`;
}

/**
 * The incident a job belongs to: its group; a self-alert's its own; a job without either (from before groups) its
 * alert's incident, or itself.
 */
export function incidentOf(job: DeliveryJob): string {
  return job.group?.id ?? job.selfAlert ?? job.alert.incidentId ?? job.id;
}

/**
 * The writes that queue `jobs`: each `firing` job also marks its (receiver, incident) pending, so a later resolve
 * waits for the trigger instead of overtaking it.
 */
export function outboxWrites(jobs: readonly DeliveryJob[]): OutboxWrite[] {
  return jobs.map((j) => {
    if (!opensIncident(j.event)) return { mark: '', marker: '', job: JSON.stringify(j) };
    const marker: StoredDelivery = { state: 'pending', at: j.createdAt, job: j.id };
    return { mark: deliveryField(j.receiver, incidentOf(j)), marker: JSON.stringify(marker), job: JSON.stringify(j) };
  });
}

/** A stored entry, or undefined when absent or unreadable (treated as "nothing recorded"). */
export function parseStoredDelivery(raw: string | null | undefined): StoredDelivery | undefined {
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw) as StoredDelivery;
    return s && typeof s.state === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The reading side of the log (writes go through the two scripts above). */
export class DeliveryLog {
  constructor(
    private readonly redis: { hget(key: string, field: string): Promise<string | null> },
    /** `alertsKeys(prefix).delivery`. */
    readonly key: string,
  ) {}

  /** The entry of (receiver, incident); undefined when nothing was recorded. */
  async read(receiver: string, incident: string): Promise<StoredDelivery | undefined> {
    return parseStoredDelivery(await this.redis.hget(this.key, deliveryField(receiver, incident)));
  }
}
