/**
 * The delivery outbox: jobs in a Redis Stream (`<prefix>:{alerts}:outbox`), written by the evaluator's fenced
 * commit (alert-store.ts), read by a worker in every replica through one consumer group, delivered by the
 * receivers (slack.ts, pagerduty.ts, webhook.ts, console-receiver.ts) and settled in one Lua step
 * (lua/outbox-settle-3.lua): record what the delivery changed, acknowledge and delete the entry.
 *
 * Retries are this module's alone (receivers make one attempt each): network errors, 429 and 5xx come back as
 * retriable outcomes and the job goes to a delayed set (`…:outbox-delayed`, score = when) with exponential
 * backoff and jitter, never sooner than the server's Retry-After; any replica moves due jobs back into the stream
 * (lua/outbox-promote-2.lua). A trigger, update or reminder still failing `giveUpMs` after it was made is given up.
 * A resolve (and a self-alert's recovery) never is while its receiver is configured: it retries at the capped
 * backoff (backoffMaxMs) until delivered, since an incident left open in PagerDuty is worse than a late resolve;
 * one for a receiver removed from the rule files is dropped, logged and counted (outcome `dropped`). Permanent
 * errors (PagerDuty 400, Slack invalid_auth / channel_not_found / not_in_channel, a missing secret) are not
 * retried. A permanent failure or a given-up job is logged with its reason, counted, and raises the failing
 * receiver's self-alert (self-alerts.ts): a `delivery_failed` job on the alert's other receivers (console when it
 * has none), once while it is open; the receiver's next successful delivery, or a recovery probe after a give-up,
 * resolves it (`delivery_recovered`).
 *
 * Storms: each receiver has a gate in Redis shared by the workers of every replica (lua/receiver-gate-1.lua). A
 * retriable answer with Retry-After (a 429) pauses the receiver until then: no worker calls it before, its other
 * jobs wait in the delayed set without counting an attempt. Deliveries are paced per receiver across replicas
 * (PACING_MS: PagerDuty 500 ms, about 120 events a minute per routing key; Slack one message a second per channel).
 *
 * Order within an incident: a job other than `firing` is delivered to a receiver only after the incident's
 * `firing` job was (its entry in the delivery log, delivery-log.ts, says `open`). While the trigger is still pending
 * (queued or retrying) the later job waits; when the trigger was muted or failed, or the incident is closed, the
 * later job is dropped (no resolve for a page nobody got, no "got worse" after the resolve).
 *
 * Crashes: a job read but never settled stays pending in the group; after `claimIdleMs` another worker (or the
 * same replica restarted, under a new consumer name) takes it over with XAUTOCLAIM and delivers it. A `firing` job
 * whose record already says `open` was delivered before the crash and is only acknowledged: a second trigger is
 * never sent for an open incident. Delivery is at least once in the narrow window between the receiver's answer
 * and the settle step; PagerDuty's dedup_key makes a repeated trigger or resolve harmless there, and a Slack
 * message could in that window be posted twice.
 */
import type { Clock } from '../core/clock.js';
import { errorMessage, isRetriable } from '../core/errors.js';
import { backoffMs } from '../core/backoff.js';
import { sleepWhile } from '../ingest/sleep-while.js';
import { alertsKeys } from '../redis/alert-keys.js';
import { duplicateForBlocking, type RedisLike } from '../redis/client.js';
import { scriptSet } from '../redis/scripts.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import {
  closesIncident,
  isSelfAlert,
  opensIncident,
  type DeliveryJob,
  type DeliveryOutcome,
  type DeliveryRecord,
  type Receiver,
} from './receiver.js';
import { BUILTIN_CONSOLE } from '../rules/receiver-def.js';
import { DeliveryLog, deliveryField, incidentOf, type StoredDelivery } from './delivery-log.js';
import { SelfAlerts } from './self-alerts.js';

export type SettleOutcome =
  'delivered' | 'retried' | 'failed' | 'skipped' | 'duplicate' | 'waiting' | 'paused' | 'dropped' | 'lost';

export interface OutboxOptions {
  redis: RedisLike;
  prefix: string;
  /** This worker's name in the consumer group; unique per process. */
  consumer: string;
  receivers: () => ReadonlyMap<string, Receiver>;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
  /** A job pending this long without being settled belongs to a dead worker and is taken over. Default 60 s. */
  claimIdleMs?: number;
  /** Retries of a trigger, update or reminder stop this long after the job was made; it then counts as failed
   *  (resolves are never given up while their receiver exists). Default 6 h. */
  giveUpMs?: number;
  /** First retry delay; doubles per attempt up to backoffMaxMs, with jitter. Defaults 5 s and 5 min. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** How often a receiver whose self-alert a given-up job raised is probed for recovery (Receiver.probe), when
   *  nothing else is delivered to it. Default backoffMaxMs. */
  probeEveryMs?: number;
  /** How long a job waits before looking again for its incident's trigger to be delivered. Default 2 s. */
  orderWaitMs?: number;
  /** Longest a blocking read waits for new jobs. Default 2 s. */
  blockMs?: number;
  /** Jobs read at once. Default 32. */
  batch?: number;
  /** The worker loop waits base × 2^failures (at most 30 s) after consecutive failed Redis calls. Default 250 ms. */
  redisRetryBaseMs?: number;
  /** A consumer name with nothing pending and idle this long is removed from the group. Default 1 h. */
  pruneIdleMs?: number;
  /** Jitter source, in [0, 1). Default Math.random. */
  random?: () => number;
  /** Called after every permanent failure (readiness shows the last one per receiver). */
  onPermanentFailure?: (receiver: string, code: string, reason: string) => void;
  /** Called after every successful delivery. */
  onDelivered?: (receiver: string) => void;
  /** Called when the consumer group was gone (Redis lost its data): the worker made it again (redis/state-loss.ts). */
  onStateLost?: (what: string, detail: string) => void;
}

const GROUP = 'delivery';
const outboxScripts = scriptSet(import.meta.url, {
  settle: 'outbox-settle-3.lua',
  promote: 'outbox-promote-2.lua',
  gate: 'receiver-gate-1.lua',
});

/**
 * Least time between two deliveries to one receiver, across replicas: PagerDuty allows about 120 events a minute
 * per routing key, Slack one message a second per channel (a Slack receiver is one channel).
 */
export const PACING_MS: Partial<Record<Receiver['kind'], number>> = { pagerduty: 500, slack: 1000 };

/** Replies that mean the consumer group (or its stream) no longer exists: NOGROUP, or a blocked read whose stream
 *  was deleted under it. */
const GROUP_GONE = /\bNOGROUP\b|\bUNBLOCKED\b.*no longer exists/;

type Cmd = (...args: (string | number)[]) => Promise<unknown>;

export class DeliveryOutbox {
  private readonly keys: ReturnType<typeof alertsKeys>;
  private readonly log: DeliveryLog;
  private readonly selfAlerts: SelfAlerts;
  private readonly claimIdleMs: number;
  private readonly giveUpMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly orderWaitMs: number;
  private readonly blockMs: number;
  private readonly batch: number;
  private readonly random: () => number;
  private readonly redisRetryBaseMs: number;
  private reader: RedisLike | null = null;
  private running = false;
  /** Ends the loop's current backoff wait early (stop). */
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private groupReady = false;
  private lastClaim = 0;
  private lastGauges = 0;
  private lastPrune = 0;
  private lastProbe = 0;

  constructor(private readonly o: OutboxOptions) {
    this.keys = alertsKeys(o.prefix);
    this.log = new DeliveryLog(o.redis, this.keys.delivery);
    this.selfAlerts = new SelfAlerts(o.redis, o.prefix);
    this.claimIdleMs = o.claimIdleMs ?? 60_000;
    this.giveUpMs = o.giveUpMs ?? 6 * 3_600_000;
    this.backoffBaseMs = o.backoffBaseMs ?? 5_000;
    this.backoffMaxMs = o.backoffMaxMs ?? 300_000;
    this.orderWaitMs = o.orderWaitMs ?? 2_000;
    this.blockMs = o.blockMs ?? 2_000;
    this.batch = o.batch ?? 32;
    this.redisRetryBaseMs = o.redisRetryBaseMs ?? 250;
    this.random = o.random ?? Math.random;
    outboxScripts.define(o.redis);
  }

  /** Starts the background loop (reads with a blocking XREADGROUP on a connection of its own). */
  start(): void {
    if (this.running) return;
    this.running = true;
    const reader = duplicateForBlocking(this.o.redis, this.blockMs);
    reader.on('error', () => {}); // reported by the loop's own failures
    // Connect now: a Cluster client refuses commands until it is ready instead of queueing them (redis/client.ts).
    reader.connect().catch(() => {});
    this.reader = reader;
    this.loop = this.run();
  }

  /** Stops reading and waits for the jobs in hand to settle; unsettled ones are taken over later by another worker. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    // A loop backing off after a Redis outage would otherwise finish its wait (up to 30 s) before stopping.
    this.wake?.();
    // Disconnecting ends a blocking read at once instead of after blockMs.
    this.reader?.disconnect();
    await this.loop;
    this.reader = null;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        await this.runOnce(true);
        failures = 0;
      } catch (err) {
        if (!this.running) break;
        failures++;
        // Jittered: after a Redis restart, the replicas' workers do not all come back in the same instant.
        const policy = { baseMs: this.redisRetryBaseMs, capMs: 30_000, jitter: 'equal' } as const;
        const wait = backoffMs(failures, policy, this.random);
        this.o.logger.warn({ err: errorMessage(err), retryInMs: wait }, 'delivery worker: Redis call failed; retrying');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = null;
      }
    }
  }

  /**
   * One pass: move due retries back, take over jobs of dead workers (every claimIdleMs/2), read new jobs (blocking
   * up to blockMs when `block`), deliver and settle them. Returns how many jobs it handled. Tests call it directly.
   */
  async runOnce(block = false): Promise<number> {
    try {
      return await this.pass(block);
    } catch (err) {
      // The group (and the stream) are gone: Redis lost its data. Make them again and read on, or every later job
      // would be decided but never delivered.
      if (!GROUP_GONE.test(errorMessage(err))) throw err;
      this.groupReady = false;
      this.o.logger.error(
        { err: errorMessage(err) },
        'delivery worker: the outbox consumer group is gone; recreating it',
      );
      this.o.onStateLost?.('outbox_group', errorMessage(err));
      return this.pass(block);
    }
  }

  /** Forgets that the consumer group exists (Redis lost its data): the next pass creates it again. */
  invalidate(): void {
    this.groupReady = false;
  }

  private async pass(block: boolean): Promise<number> {
    await this.ensureGroup();
    const now = this.o.clock.now();
    await outboxScripts.run(
      this.o.redis,
      'promote',
      [this.keys.outbox, this.keys.delayed],
      [now, 100],
      'OUTBOX',
      'delivery worker: promoting due retries',
    );
    const entries: [string, string[]][] = [];
    let claimedAny = false;
    if (now - this.lastClaim >= this.claimIdleMs / 2) {
      this.lastClaim = now;
      const claimed = (await this.o.redis.xautoclaim(
        this.keys.outbox,
        GROUP,
        this.o.consumer,
        this.claimIdleMs,
        '0-0',
        'COUNT',
        this.batch,
      )) as unknown as [string, [string, string[]][] | null];
      for (const e of claimed[1] ?? []) if (e && e[1]) entries.push(e);
      claimedAny = entries.length > 0;
      if (claimedAny)
        this.o.logger.info(
          { jobs: entries.length },
          'delivery worker: took over jobs a stopped worker left unfinished',
        );
    }
    if (entries.length === 0) {
      const client = block && this.reader ? this.reader : this.o.redis;
      const args: (string | number)[] = ['GROUP', GROUP, this.o.consumer, 'COUNT', this.batch];
      if (block) args.push('BLOCK', this.blockMs);
      args.push('STREAMS', this.keys.outbox, '>');
      const res = (await (client as unknown as { xreadgroup: Cmd }).xreadgroup(...args)) as
        [string, [string, string[]][]][] | null;
      for (const [, es] of res ?? []) entries.push(...es);
    }
    // Entries taken over from a dead worker may have reached their receiver already (it died before settling).
    if (entries.length > 0) await this.handleAll(entries, claimedAny);
    if (now - this.lastGauges >= 10_000) {
      this.lastGauges = now;
      await this.exportGauges().catch(() => {});
    }
    if (now - this.lastProbe >= (this.o.probeEveryMs ?? this.backoffMaxMs)) {
      this.lastProbe = now;
      await this.probeFailing(now).catch((err: unknown) =>
        this.o.logger.warn({ err: errorMessage(err) }, 'delivery worker: probing failing receivers failed'),
      );
    }
    if (now - this.lastPrune >= Math.min(10 * 60_000, this.o.pruneIdleMs ?? Infinity)) {
      this.lastPrune = now;
      await this.pruneConsumers().catch(() => {});
    }
    return entries.length;
  }

  /** Jobs waiting: in the stream (new or in hand) and in the delayed set (waiting for their retry time). */
  async backlog(): Promise<{ queued: number; delayed: number }> {
    const [queued, delayed] = await Promise.all([
      this.o.redis.xlen(this.keys.outbox),
      this.o.redis.zcard(this.keys.delayed),
    ]);
    return { queued, delayed };
  }

  /** The delivery record of (receiver, incident), for the API and tests. */
  async record(receiver: string, incident: string): Promise<StoredDelivery | undefined> {
    return this.log.read(receiver, incident);
  }

  /**
   * Every process joins the group under a new consumer name, so restarts leave names behind; a name with nothing
   * pending and idle for an hour belongs to a process that is gone, and is removed (its jobs, if any, were
   * taken over already, since it has none pending).
   */
  private async pruneConsumers(): Promise<void> {
    const raw = (await this.o.redis.xinfo('CONSUMERS', this.keys.outbox, GROUP)) as unknown as (string | number)[][];
    for (const fields of raw) {
      const get = (k: string) => fields[fields.indexOf(k) + 1];
      const name = String(get('name'));
      if (
        name !== this.o.consumer &&
        Number(get('pending')) === 0 &&
        Number(get('idle')) > (this.o.pruneIdleMs ?? 3_600_000)
      ) {
        await this.o.redis.xgroup('DELCONSUMER', this.keys.outbox, GROUP, name);
      }
    }
  }

  private async exportGauges(): Promise<void> {
    const b = await this.backlog();
    this.o.metrics?.outboxJobs.set({ state: 'queued' }, b.queued);
    this.o.metrics?.outboxJobs.set({ state: 'delayed' }, b.delayed);
  }

  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    try {
      await this.o.redis.xgroup('CREATE', this.keys.outbox, GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test(errorMessage(err))) throw err;
    }
    this.groupReady = true;
  }

  /** Receivers in parallel, each receiver's jobs in order (a slow Slack must not hold PagerDuty pages back). */
  private async handleAll(entries: [string, string[]][], takenOver: boolean): Promise<void> {
    const byReceiver = new Map<string, { entry: string; job: DeliveryJob | undefined; raw: string }[]>();
    for (const [entry, fields] of entries) {
      const raw = fieldOf(fields, 'j') ?? '';
      const job = parseJob(raw);
      if (job && takenOver) job.takenOver = true;
      const key = job?.receiver ?? '';
      const list = byReceiver.get(key) ?? [];
      list.push({ entry, job, raw });
      byReceiver.set(key, list);
    }
    await Promise.all(
      [...byReceiver.values()].map(async (list) => {
        for (const { entry, job, raw } of list) {
          try {
            await this.handle(entry, job, raw);
          } catch (err) {
            // Redis failed while settling: the entry stays pending and is taken over after claimIdleMs.
            this.o.logger.warn(
              { entry, job: job?.id, err: errorMessage(err) },
              'delivery worker: could not settle a job; it will be taken over later',
            );
          }
        }
      }),
    );
  }

  private async handle(entry: string, job: DeliveryJob | undefined, raw: string): Promise<SettleOutcome> {
    if (!job) {
      this.o.logger.error({ entry, raw: raw.slice(0, 500) }, 'delivery worker: unreadable job dropped');
      return this.settle(entry, 'skipped', undefined, {});
    }
    const now = this.o.clock.now();
    const log = this.o.logger.child({ job: job.id, receiver: job.receiver, event: job.event, attempt: job.attempt });
    const receiver = this.o.receivers().get(job.receiver);
    // A self-alert queued by an older version has no incident of its own: delivered as it comes, not recorded.
    const untracked = isSelfAlert(job.event) && job.selfAlert === undefined;
    const field = untracked ? '' : deliveryField(job.receiver, incidentOf(job));
    const stored = field ? await this.log.read(job.receiver, incidentOf(job)) : undefined;

    if (untracked) {
      // delivered below without a record
    } else if (opensIncident(job.event)) {
      if (stored && (stored.state === 'open' || stored.state === 'closed')) {
        log.info('trigger already delivered for this incident (a replayed job): not sent again');
        return this.settle(entry, 'duplicate', job, {});
      }
    } else {
      if (!stored || stored.state === 'failed' || stored.state === 'closed') {
        log.debug(
          { state: stored?.state ?? 'none' },
          'nothing open at this receiver for the incident (muted, failed or closed): not sent',
        );
        return this.settle(entry, 'skipped', job, {});
      }
      if (stored.state === 'pending') {
        if (now - job.createdAt > this.giveUpMs)
          return this.fail(
            entry,
            job,
            log,
            'DELIVERY_TRIGGER_NEVER_DELIVERED',
            "the incident's trigger was never delivered",
          );
        return this.settle(entry, 'waiting', job, { retryAt: now + this.orderWaitMs, retryJob: job });
      }
      if (stored.record && stored.job === job.id) return this.settle(entry, 'duplicate', job, {});
    }

    if (!receiver) {
      if (closesIncident(job.event)) {
        // Nobody can be told any more; a self-alert about a receiver the operator removed would never resolve.
        log.warn(
          { incident: incidentOf(job) },
          `receiver "${job.receiver}" is no longer configured (removed from the rule files?): its resolve is dropped`,
        );
        return this.settle(entry, 'dropped', job, {});
      }
      // Failed, logged and counted, but no self-alert: nothing would ever resolve it (no delivery to come), and
      // readiness does not keep warning about a receiver the operator removed.
      return this.fail(
        entry,
        job,
        log,
        'RECEIVER_UNKNOWN',
        `receiver "${job.receiver}" is not configured (removed from the rule files?)`,
        false,
      );
    }
    // The receiver's gate, shared by every replica: paused after a 429 (nobody calls it before its Retry-After),
    // and paced. A job that must wait goes back to the delayed set for then, its attempt not counted.
    const gate = await this.gate('take', job.receiver, now, PACING_MS[receiver.kind] ?? 0);
    if (!gate.open) return this.settle(entry, 'paused', job, { retryAt: gate.at, retryJob: job });
    const timer = this.o.metrics?.deliveryRequestSeconds.startTimer({ receiver: job.receiver });
    let outcome: DeliveryOutcome;
    try {
      outcome = await receiver.deliver(job, stored?.record);
    } catch (err) {
      // Receivers answer outcomes; a throw meets the one rule for foreign errors (isRetriable): a transient network
      // failure is retried, anything else is a bug that fails the delivery now, so the alert's other receivers hear
      // of it at once instead of after giveUpMs of retries.
      const reason = errorMessage(err);
      const retriable = isRetriable(err);
      log.error({ err: reason, retriable }, 'receiver threw instead of answering');
      outcome = retriable
        ? { ok: false, retriable, code: 'DELIVERY_UNEXPECTED', reason }
        : { ok: false, retriable, code: 'DELIVERY_UNEXPECTED', reason };
    } finally {
      timer?.();
    }

    if (outcome.ok) {
      const done = this.o.clock.now();
      const record: DeliveryRecord = {
        ...(stored?.record ?? { receiver: job.receiver, incident: incidentOf(job), openedAt: done }),
        ...(outcome.record ?? {}),
        lastEvent: job.event,
        lastAt: done,
      };
      const state: StoredDelivery['state'] = closesIncident(job.event) ? 'closed' : 'open';
      // From the moment the evaluator decided to the receiver's answer: queueing, retries and the request itself.
      this.o.metrics?.deliveryLatency.observe(
        { receiver: job.receiver, event: job.event },
        Math.max(0, done - job.createdAt) / 1000,
      );
      // A job the receiver had nothing to send for proves nothing about it: the readiness warning and the self-alert
      // stay until a real delivery.
      if (!outcome.nothingSent) this.o.onDelivered?.(job.receiver);
      log.info({ latencyMs: done - job.createdAt }, 'delivered');
      const settled = await this.settle(
        entry,
        'delivered',
        job,
        field ? { field, value: { state, at: done, job: job.id, record } } : {},
      );
      // The receiver takes deliveries again: its open self-alert, if any, is resolved (once, whichever worker).
      const told = outcome.nothingSent ? 0 : await this.selfAlerts.recover(job.receiver, done);
      if (told > 0) log.info({ told }, 'the receiver delivers again: its self-alert is resolved');
      return settled;
    }
    if (outcome.retriable) {
      if (closesIncident(job.event) && now - job.createdAt > this.giveUpMs && job.attempt % 10 === 0) {
        log.warn(
          { code: outcome.code, reason: outcome.reason, ageMin: Math.round((now - job.createdAt) / 60_000) },
          'a resolve is still failing past the give-up time; it is retried until delivered (never given up)',
        );
      }
      if (!closesIncident(job.event) && now - job.createdAt > this.giveUpMs) {
        return this.fail(
          entry,
          job,
          log,
          'DELIVERY_GAVE_UP',
          `still failing after ${Math.round((now - job.createdAt) / 60_000)} min (${job.attempt + 1} attempts); ` +
            `last: ${outcome.code}: ${outcome.reason}`,
        );
      }
      const delay = this.retryDelay(job.attempt, outcome.retryAfterMs);
      // Retry-After counts from the answer, not from when the job was taken: a delivery can spend seconds before
      // its failing call (a receiver's own pacing, lookups, an update before the post, a slow request).
      const answeredAt = this.o.clock.now();
      // The server said when: every worker of every replica holds back this receiver's jobs until then.
      if (outcome.retryAfterMs !== undefined)
        await this.gate('pause', job.receiver, answeredAt, answeredAt + outcome.retryAfterMs);
      log.warn({ code: outcome.code, reason: outcome.reason, retryInMs: delay }, 'delivery failed; will retry');
      return this.settle(entry, 'retried', job, {
        retryAt: answeredAt + delay,
        retryJob: { ...job, attempt: job.attempt + 1 },
      });
    }
    return this.fail(entry, job, log, outcome.code, outcome.reason);
  }

  /**
   * A receiver whose self-alert a given-up job raised (it kept failing: network, 5xx, 429) gets no further
   * deliveries when nothing new is sent to it, so its recovery would go unseen: a probe it answers recovers it.
   * Only for give-ups: a probe passing says nothing about a permanent refusal (a channel the bot is not in).
   * The probe goes through the receiver's gate, so a pause or the pacing holds it back like any delivery.
   */
  private async probeFailing(now: number): Promise<void> {
    for (const open of await this.selfAlerts.open()) {
      const receiver = this.o.receivers().get(open.receiver);
      if (open.code !== 'DELIVERY_GAVE_UP' || !receiver?.probe) continue;
      const gate = await this.gate('take', open.receiver, now, PACING_MS[receiver.kind] ?? 0);
      if (!gate.open) continue;
      const outcome = await receiver.probe();
      const log = this.o.logger.child({ receiver: open.receiver });
      if (!outcome.ok) {
        if (outcome.retriable && outcome.retryAfterMs !== undefined) {
          const at = this.o.clock.now();
          await this.gate('pause', open.receiver, at, at + outcome.retryAfterMs);
        }
        log.info({ code: outcome.code, reason: outcome.reason }, 'recovery probe: the receiver still fails');
        continue;
      }
      this.o.onDelivered?.(open.receiver);
      const told = await this.selfAlerts.recover(open.receiver, this.o.clock.now());
      if (told > 0) log.info({ told }, 'recovery probe: the receiver answers again; its self-alert is resolved');
    }
  }

  /** The receiver gate (lua/receiver-gate-1.lua): 'take' a delivery slot, or 'pause' the receiver until `arg`. */
  private async gate(
    op: 'take' | 'pause',
    receiver: string,
    now: number,
    arg: number,
  ): Promise<{ open: boolean; at: number }> {
    const res = (await outboxScripts.run(
      this.o.redis,
      'gate',
      [this.keys.receiverGates],
      [op, receiver, Math.round(now), Math.round(arg)],
      'OUTBOX',
      `delivery worker: receiver gate of ${receiver}`,
    )) as [number, number];
    return { open: Number(res[0]) === 1, at: Number(res[1]) };
  }

  /** Exponential backoff with equal jitter, capped; never sooner than the server asked. */
  retryDelay(attempt: number, retryAfterMs?: number): number {
    const policy = { baseMs: this.backoffBaseMs, capMs: this.backoffMaxMs, jitter: 'equal' } as const;
    return Math.max(retryAfterMs ?? 0, backoffMs(attempt, policy, this.random));
  }

  /** A permanent failure: recorded (so later jobs of the incident are not sent), counted, logged, self-alerted. */
  private async fail(
    entry: string,
    job: DeliveryJob,
    log: Logger,
    code: string,
    reason: string,
    selfAlert = true,
  ): Promise<SettleOutcome> {
    log.error(
      { code, reason },
      selfAlert && (job.event === 'firing' || (job.event === 'updated' && job.group?.severityRose === true))
        ? 'delivery failed permanently: a page may be missing; announcing it on the other receivers'
        : 'delivery failed permanently',
    );
    if (selfAlert) this.o.onPermanentFailure?.(job.receiver, code, reason);
    const now = this.o.clock.now();
    const untracked = isSelfAlert(job.event) && job.selfAlert === undefined;
    const field = opensIncident(job.event) && !untracked ? deliveryField(job.receiver, incidentOf(job)) : '';
    // Raised before the job is settled: a crash in between fails the job again on takeover, and the raise is
    // idempotent (each receiver is told once per open self-alert).
    if (selfAlert && !isSelfAlert(job.event)) {
      const failure = { receiver: job.receiver, jobId: job.id, event: job.event, code, reason };
      await this.selfAlerts.raise(failure, job.alert, this.selfAlertTargets(job), now);
    }
    return this.settle(entry, 'failed', job, {
      ...(field ? { field, value: { state: 'failed' as const, at: now, job: job.id, failure: { code, reason } } } : {}),
    });
  }

  /** Who hears that `job`'s receiver refused: the alert's other receivers, the console when there are none. */
  private selfAlertTargets(job: DeliveryJob): string[] {
    const known = this.o.receivers();
    const targets = job.alert.notify.filter((r) => r !== job.receiver && known.has(r));
    if (targets.length === 0 && job.receiver !== BUILTIN_CONSOLE.name && known.has(BUILTIN_CONSOLE.name))
      return [BUILTIN_CONSOLE.name];
    return targets;
  }

  /**
   * The settle step retried in place while Redis is briefly away (a Cluster primary failing over, a reconnect): the
   * receiver already answered, and a job left pending would be taken over after claimIdleMs and delivered again (a
   * second page). Retriable failures only, with the one backoff, for at most half of claimIdleMs in all (so this
   * worker gives up before another could take the job over); then the failure goes up as before and the takeover
   * stays the last resort. A retry after a settle that ran but whose answer was lost finds the entry gone and
   * answers 0 ('lost'): nothing is written twice.
   */
  private async settleRetried(run: () => Promise<unknown>): Promise<unknown> {
    const policy = { baseMs: this.redisRetryBaseMs, capMs: 5_000, jitter: 'equal' } as const;
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await run();
      } catch (err) {
        const wait = backoffMs(attempt, policy, this.random);
        // A stopping worker does not wait: the job is taken over after claimIdleMs, as before.
        if (!isRetriable(err) || !this.running || waited + wait > this.claimIdleMs / 2) throw err;
        this.o.logger.warn({ err: errorMessage(err), retryInMs: wait }, 'delivery worker: settle failed; retrying');
        waited += wait;
        await sleepWhile(
          wait,
          () => this.running,
          async () => {},
        );
      }
    }
  }

  private async settle(
    entry: string,
    outcome: SettleOutcome,
    job: DeliveryJob | undefined,
    o: { field?: string; value?: StoredDelivery; retryAt?: number; retryJob?: DeliveryJob },
  ): Promise<SettleOutcome> {
    const res = await this.settleRetried(() =>
      outboxScripts.run(
        this.o.redis,
        'settle',
        [this.keys.outbox, this.keys.delayed, this.keys.delivery],
        [
          GROUP,
          this.o.consumer,
          entry,
          o.field ?? '',
          o.value ? JSON.stringify(o.value) : '',
          o.retryAt !== undefined ? Math.round(o.retryAt) : '',
          o.retryJob ? JSON.stringify(o.retryJob) : '',
        ],
        'OUTBOX',
        `delivery worker: settling ${entry}`,
      ),
    );
    const final: SettleOutcome = Number(res) === 1 ? outcome : 'lost';
    if (final === 'lost')
      this.o.logger.warn(
        { entry, job: job?.id },
        'delivery worker: another worker took this job over meanwhile; its result is theirs',
      );
    if (job) this.o.metrics?.deliveries.inc({ receiver: job.receiver, event: job.event, outcome: final });
    return final;
  }
}

function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function parseJob(raw: string): DeliveryJob | undefined {
  try {
    const j = JSON.parse(raw) as Partial<DeliveryJob> | null;
    if (
      j &&
      typeof j.id === 'string' &&
      typeof j.receiver === 'string' &&
      typeof j.event === 'string' &&
      j.alert &&
      typeof j.createdAt === 'number'
    ) {
      return { ...j, attempt: typeof j.attempt === 'number' ? j.attempt : 0 } as DeliveryJob;
    }
  } catch {
    // unreadable: reported by the caller
  }
  return undefined;
}
