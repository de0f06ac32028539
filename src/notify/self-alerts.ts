/**
 * Self-alerts: funnelwatch telling people that one of its receivers stopped taking deliveries (a page may be
 * missing), and telling them again when it takes them once more. One open self-alert per failing receiver, kept in
 * Redis (`<prefix>:{alerts}:self-alert|<receiver>`, lua/self-alert-4.lua) so every replica's workers share it:
 *   - raise: a permanent failure or a given-up job of receiver X queues one `delivery_failed` job per other
 *     receiver of the alert (the console when there is none), once per (X, receiver told) while the self-alert is
 *     open; later failures of X only count. The jobs open an incident of their own (`self-alert/X@since`) in the
 *     delivery log, so the recovery can never overtake its announcement and is not sent where it was not delivered.
 *   - recover: the next delivery X takes ends the self-alert: one `delivery_recovered` job per receiver told (PagerDuty
 *     resolves the self-alert's dedup key, Slack updates the self-alert message, webhooks get a resolved alert). The
 *     hash is deleted and the jobs queued in one step that checks nothing changed since it was read, so two workers
 *     delivering to X at once recover it once.
 * Recovery is seen on the receiver's next delivery (resolves included, which the outbox never gives up while the
 * receiver exists). When nothing more is sent to it, the outbox probes a receiver whose self-alert a given-up job
 * opened (`Receiver.probe`: a call that changes nothing) and a probe it answers recovers it the same way.
 */
import { alertsKeys } from '../redis/alert-keys.js';
import type { RedisLike } from '../redis/client.js';
import { scriptSet } from '../redis/scripts.js';
import type { AlertTransition } from '../model/alert-transition.js';
import { outboxWrites } from './delivery-log.js';
import type { DeliveryFailure, DeliveryJob } from './receiver.js';

const scripts = scriptSet(import.meta.url, { selfAlert: 'self-alert-4.lua' });

/** What the self-alert hash keeps of its first failure: enough to word and address its recovery. */
interface SelfAlertRecord {
  since: number;
  failure: DeliveryFailure;
  alert: AlertTransition;
}

/** Attempts at a step that found the hash changed under it (another worker raised or recovered it first). */
const ATTEMPTS = 5;

export class SelfAlerts {
  private readonly keys: ReturnType<typeof alertsKeys>;

  constructor(
    private readonly redis: RedisLike,
    prefix: string,
  ) {
    this.keys = alertsKeys(prefix);
    scripts.define(redis);
  }

  /**
   * Receiver `failure.receiver` failed `failure.jobId` for good: tells each of `targets` not told yet (the
   * self-alert stays open until the receiver delivers again). Returns the number of `delivery_failed` jobs queued.
   */
  async raise(failure: DeliveryFailure, alert: AlertTransition, targets: readonly string[], now: number) {
    if (targets.length === 0) return 0;
    for (let i = 0; i < ATTEMPTS; i++) {
      const raw = await this.redis.hget(this.keys.selfAlert(failure.receiver), 'record');
      const record: SelfAlertRecord = parseRecord(raw) ?? { since: now, failure, alert };
      const stored = raw ?? JSON.stringify(record);
      const id = selfAlertId(failure.receiver, record.since);
      // Every receiver told hears of the failure that opened the self-alert (a receiver told later, by a later
      // failure, too), so its recovery addresses the same alert everywhere (PagerDuty key, Alertmanager labels).
      const jobs: DeliveryJob[] = targets.map((r) => ({
        id: `${id}/delivery_failed/${r}`,
        receiver: r,
        event: 'delivery_failed',
        alert: record.alert,
        createdAt: now,
        attempt: 0,
        failure: record.failure,
        selfAlert: id,
      }));
      const args = outboxWrites(jobs).flatMap((w, k) => [targets[k]!, w.mark, w.marker, w.job]);
      const queued = await this.run(failure.receiver, ['raise', failure.receiver, stored, ...args], 'raising');
      if (queued >= 0) return queued;
    }
    return 0;
  }

  /**
   * `receiver` took a delivery: ends its open self-alert, if any, queueing one `delivery_recovered` job per
   * receiver told. Returns the number queued (0 when nothing was open, or another worker recovered it).
   */
  async recover(receiver: string, now: number): Promise<number> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const hash = await this.redis.hgetall(this.keys.selfAlert(receiver));
      const raw = hash.record;
      if (raw === undefined) return 0;
      const record = parseRecord(raw);
      const told = Object.keys(hash)
        .filter((f) => f.startsWith('to|'))
        .map((f) => f.slice(3));
      const id = selfAlertId(receiver, record?.since ?? 0);
      const jobs: DeliveryJob[] = record
        ? told.map((r) => ({
            id: `${id}/delivery_recovered/${r}`,
            receiver: r,
            event: 'delivery_recovered',
            alert: record.alert,
            createdAt: now,
            attempt: 0,
            failure: { ...record.failure, reason: `${record.failure.reason} (failures: ${hash.count ?? '1'})` },
            selfAlert: id,
          }))
        : []; // unreadable: nothing to address, the hash is only cleared
      const n = await this.run(
        receiver,
        ['recover', receiver, raw, Object.keys(hash).length, ...jobs.map((j) => JSON.stringify(j))],
        'recovering',
      );
      if (n >= 0) return n;
    }
    return 0;
  }

  /** The receivers with an open self-alert, and the code of the failure that opened it. */
  async open(): Promise<{ receiver: string; code: string; since: number }[]> {
    const out: { receiver: string; code: string; since: number }[] = [];
    for (const receiver of await this.redis.smembers(this.keys.selfAlerts)) {
      const record = parseRecord(await this.redis.hget(this.keys.selfAlert(receiver), 'record'));
      if (record) out.push({ receiver, code: record.failure.code, since: record.since });
    }
    return out;
  }

  private async run(receiver: string, argv: (string | number)[], what: string): Promise<number> {
    const res = await scripts.run(
      this.redis,
      'selfAlert',
      [this.keys.selfAlert(receiver), this.keys.outbox, this.keys.delivery, this.keys.selfAlerts],
      argv,
      'OUTBOX',
      `delivery worker: ${what} the self-alert of ${receiver}`,
    );
    return Number(res);
  }
}

/** The self-alert's incident id: the failing receiver and when its self-alert opened. */
export function selfAlertId(receiver: string, since: number): string {
  return `self-alert/${receiver}@${since}`;
}

function parseRecord(raw: string | null | undefined): SelfAlertRecord | undefined {
  if (!raw) return undefined;
  try {
    const r = JSON.parse(raw) as SelfAlertRecord;
    return typeof r.since === 'number' && r.failure && r.alert ? r : undefined;
  } catch {
    return undefined;
  }
}
