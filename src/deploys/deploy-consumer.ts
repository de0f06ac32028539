/**
 * Deploy markers from a Kafka topic, for CD systems that already publish their releases there.
 *
 * The consumer group is its own (`<FW_KAFKA_GROUP>-deploys` by convention), separate from the events group: the
 * replicas share it, so each marker is read by one of them, and its offsets never mix with the events' ones.
 *
 * Every message is a JSON marker as POST /v1/deploys takes it. A marker without `ts` gets the message's own
 * timestamp, not the time it is read, so a redelivery computes the same id and is recognised as a duplicate.
 * A message that is not a valid marker is logged with its topic, partition, offset and reason, reported through
 * `onRejected`, and skipped: one bad producer must not stop the markers behind it. Nothing here throws out of the
 * message loop; a Redis failure (retriable) is retried in place with backoff while heartbeating, and the offset
 * moves only past messages that were stored or rejected.
 */
import { Kafka, logLevel, type Consumer, type EachBatchPayload, type KafkaMessage } from 'kafkajs';
import type { Clock } from '../clock.js';
import { errorMessage, isRetriable, FwError } from '../errors.js';
import type { Logger } from '../obs/logger.js';
import { kafkaLogCreator } from '../ingest/kafka-source.js';
import { backoffMs, type BackoffPolicy } from '../core/backoff.js';
import { validateDeployInput, type Deploy } from './deploy.js';
import type { DeployStore } from './deploy-store.js';

/** Between rebuilds of a consumer that kafkajs does not restart itself. */
const RELAUNCH_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 30_000, jitter: 'equal' };

/** As POST /v1/deploys: a marker is far smaller; a bigger message is not one. */
export const DEPLOY_MESSAGE_MAX_BYTES = 64 * 1024;

export interface DeployMessageRef {
  topic: string;
  partition: number;
  offset: string;
}

export interface DeployConsumerOptions {
  brokers: string[];
  topic: string;
  /** Shared by the replicas, distinct from the events group, e.g. `funnelwatch-deploys`. */
  groupId: string;
  clientId: string;
  store: DeployStore;
  logger: Logger;
  clock: Clock;
  /** Called (not awaited) after a new marker is stored; duplicates do not call it. */
  onDeploy?: (deploy: Deploy) => void | Promise<void>;
  /** Called for each message skipped as invalid, with the reason logged for it. */
  onRejected?: (reason: string, where: DeployMessageRef) => void;
  /** A new group starts at the oldest retained message instead of the newest; default false. */
  fromBeginning?: boolean;
  sessionTimeoutMs?: number;
  /** Backoff bounds for Redis failures. */
  retryBaseMs?: number;
  retryCapMs?: number;
}

export interface DeployConsumerStatus {
  connected: boolean;
  reason?: string;
}

export class DeployConsumer {
  private readonly kafka: Kafka;
  private readonly log: Logger;
  private consumer: Consumer | null = null;
  private connected = false;
  private lastError: string | undefined;
  private stopping = false;
  private readonly inFlight = new Set<Promise<void>>();
  private relaunches = 0;
  private relaunchTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: DeployConsumerOptions) {
    if (!o.topic) throw new FwError('DEPLOY_BAD_OPTIONS', 'the deploy topic must not be empty');
    if (!o.groupId) throw new FwError('DEPLOY_BAD_OPTIONS', 'the deploy consumer group must not be empty');
    this.log = o.logger.child({ component: 'deploy-consumer', topic: o.topic });
    this.kafka = new Kafka({
      clientId: o.clientId,
      brokers: o.brokers,
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(o.logger),
      retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
  }

  status(): DeployConsumerStatus {
    return this.connected ? { connected: true } : { connected: false, reason: this.lastError ?? 'not yet a member of the consumer group' };
  }

  /** Connects, subscribes and starts reading; resolves once the consumer runs (not when it has joined the group). */
  async start(): Promise<void> {
    this.stopping = false;
    await this.launch();
  }

  private async launch(): Promise<void> {
    const sessionTimeout = this.o.sessionTimeoutMs ?? 30_000;
    const consumer = this.kafka.consumer({
      groupId: this.o.groupId,
      sessionTimeout,
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
      maxBytesPerPartition: 1024 * 1024,
      allowAutoTopicCreation: true,
      // Bad messages never reach a crash (they are skipped), so a crash is a broker outage: keep trying.
      retry: { retries: 10, restartOnFailure: async () => true },
    });
    this.consumer = consumer;
    const { GROUP_JOIN, CRASH, DISCONNECT, STOP } = consumer.events;
    consumer.on(GROUP_JOIN, (e) => {
      this.connected = true;
      this.lastError = undefined;
      this.relaunches = 0;
      this.log.info({ assigned: e.payload.memberAssignment, groupId: this.o.groupId }, 'deploy consumer joined its group');
    });
    consumer.on(CRASH, (e) => {
      this.connected = false;
      this.lastError = `consumer crashed: ${errorMessage(e.payload.error)}`;
      this.log.error({ err: errorMessage(e.payload.error), restart: e.payload.restart }, 'deploy consumer crashed');
      // kafkajs restarts by itself after retriable errors only; after the others the consumer is rebuilt.
      if (!e.payload.restart && !this.stopping) this.scheduleRelaunch(consumer);
    });
    consumer.on(DISCONNECT, () => {
      this.connected = false;
      this.lastError = 'disconnected from Kafka';
    });
    consumer.on(STOP, () => {
      this.connected = false;
      this.lastError = 'stopped';
    });

    await consumer.connect();
    await consumer.subscribe({ topic: this.o.topic, fromBeginning: this.o.fromBeginning ?? false });
    await consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => {
        if (this.stopping) return Promise.resolve();
        const p = this.onBatch(payload);
        const tracked: Promise<void> = p.catch(() => undefined).finally(() => this.inFlight.delete(tracked));
        this.inFlight.add(tracked);
        return p;
      },
    });
  }

  private scheduleRelaunch(dead: Consumer): void {
    const wait = backoffMs(this.relaunches++, RELAUNCH_BACKOFF, Math.random);
    this.log.warn({ waitMs: wait, attempt: this.relaunches }, 'restarting the deploy consumer');
    this.relaunchTimer = setTimeout(async () => {
      if (this.stopping) return;
      await dead.disconnect().catch(() => undefined);
      this.launch().catch((err: unknown) => {
        this.lastError = `consumer restart failed: ${errorMessage(err)}`;
        this.log.error({ err: errorMessage(err) }, 'deploy consumer restart failed');
        if (this.consumer && !this.stopping) this.scheduleRelaunch(this.consumer);
      });
    }, wait);
    this.relaunchTimer.unref();
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale, resolveOffset, commitOffsetsIfNecessary } = payload;
    const active = () => isRunning() && !isStale() && !this.stopping;
    for (const message of batch.messages) {
      if (!active()) return;
      const where: DeployMessageRef = { topic: batch.topic, partition: batch.partition, offset: message.offset };
      const done = await this.handle(message, where, active, heartbeat);
      // Not done: stopping or rebalancing mid-retry; the offset stays, and whoever reads next stores it.
      if (!done) return;
      resolveOffset(message.offset);
      await heartbeat().catch(() => undefined);
    }
    await commitOffsetsIfNecessary().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'deploy offsets not committed; redelivered markers are recognised as duplicates'));
  }

  /** Stores or rejects one message; false when it was left for later (stop or rebalance during a Redis outage). */
  private async handle(message: KafkaMessage, where: DeployMessageRef, active: () => boolean, heartbeat: () => Promise<void>): Promise<boolean> {
    const parsed = this.parse(message);
    if (!parsed.ok) {
      this.reject(parsed.reason, where, message);
      return true;
    }
    const now = this.o.clock.now();
    const sentAt = Number(message.timestamp);
    const checked = validateDeployInput(parsed.body, now, {
      maxAgeMs: this.o.store.retentionMs,
      ...(Number.isFinite(sentAt) && sentAt > 0 ? { defaultTs: sentAt } : {}),
    });
    if (!checked.ok) {
      this.reject(checked.problems.join('; '), where, message);
      return true;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const { deploy, duplicate } = await this.o.store.add(checked.value);
        if (duplicate) {
          this.log.debug({ deploy: deploy.id, ...where }, 'deploy marker already recorded');
        } else {
          this.log.info({ deploy: deploy.id, service: deploy.service, version: deploy.version, environment: deploy.environment,
            ts: new Date(deploy.ts).toISOString(), ...where }, 'deploy marker recorded');
          this.forward(deploy);
        }
        return true;
      } catch (err) {
        if (!isRetriable(err)) {
          this.reject(errorMessage(err), where, message);
          return true;
        }
        if (!active()) return false;
        const retry = { baseMs: this.o.retryBaseMs ?? 200, capMs: this.o.retryCapMs ?? 5_000 };
        const wait = backoffMs(attempt, { ...retry, jitter: 'equal' }, Math.random);
        this.log.warn({ err: errorMessage(err), ...where, attempt, waitMs: wait }, 'deploy marker not stored; retrying');
        await sleepWhile(wait, active, heartbeat);
        if (!active()) return false;
      }
    }
  }

  private parse(message: KafkaMessage): { ok: true; body: unknown } | { ok: false; reason: string } {
    const value = message.value;
    if (value === null || value.length === 0) return { ok: false, reason: 'empty message (a tombstone?); expected a JSON deploy marker' };
    if (value.length > DEPLOY_MESSAGE_MAX_BYTES) return { ok: false, reason: `message of ${value.length} bytes; a deploy marker is at most ${DEPLOY_MESSAGE_MAX_BYTES}` };
    try {
      return { ok: true, body: JSON.parse(value.toString('utf8')) };
    } catch (err) {
      return { ok: false, reason: `not JSON: ${errorMessage(err)}` };
    }
  }

  private reject(reason: string, where: DeployMessageRef, message: KafkaMessage): void {
    this.log.warn({ ...where, key: message.key?.toString('utf8'), reason }, 'deploy marker rejected (skipped)');
    try {
      this.o.onRejected?.(reason, where);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'onRejected failed');
    }
  }

  private forward(d: Deploy): void {
    if (!this.o.onDeploy) return;
    try {
      Promise.resolve(this.o.onDeploy(d)).catch((err: unknown) => this.log.warn({ deploy: d.id, err: errorMessage(err) }, 'onDeploy failed'));
    } catch (err) {
      this.log.warn({ deploy: d.id, err: errorMessage(err) }, 'onDeploy failed');
    }
  }

  /**
   * Stops reading: waits (at most `budgetMs`) for the batch in hand, then leaves the group. A marker caught in a
   * Redis retry is left uncommitted for the next reader.
   */
  async stop(budgetMs = 5_000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.relaunchTimer);
    const c = this.consumer;
    if (!c) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.inFlight), new Promise<void>((r) => (timer = setTimeout(r, budgetMs)))]);
    clearTimeout(timer);
    try {
      await c.stop();
    } finally {
      await c.disconnect();
      this.connected = false;
    }
  }
}

async function sleepWhile(ms: number, active: () => boolean, heartbeat: () => Promise<void>): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && active()) {
    await new Promise((r) => setTimeout(r, Math.min(500, until - Date.now())));
    try {
      await heartbeat();
    } catch {
      return;
    }
  }
}
