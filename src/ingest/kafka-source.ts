/**
 * kafkajs consumer-group adapter for the EventSource port: the one managed consumer loop of the daemon. The events
 * topics (ingest pipeline) and the deploy marker topic (deploys/deploy-marker-handler.ts) each run one, with their
 * own group, from the daemon's one Kafka client (kafka-client.ts).
 *
 * - `eachBatch` with auto-resolve and auto-commit off: offsets move only after the handler resolved. Redis, not
 *   Kafka, records what was applied (the window store's offset fence, the deploy store's ids), so the Kafka commit
 *   only bounds how much a restart re-reads (and skips): it is sent at most every `commitIntervalMs`, not once per
 *   batch, which would cost a round trip per batch, and always before a graceful stop.
 * - Batches of up to `partitionsConcurrency` partitions are handled at once; partitions are independent.
 * - A retriable handler failure (Redis down) is retried in place with backoff while heartbeating: that partition
 *   is effectively paused, nothing is committed, nothing is lost; a rebalance or stop ends the retry loop.
 * - A crash kafkajs does not recover from itself (a non-retriable error) rebuilds the consumer with backoff.
 * - `stop()` first waits for the batch in flight to be applied AND committed, and only then calls kafkajs
 *   `consumer.stop()`: kafkajs' own stop leaves the group without waiting for eachBatch, so a commit issued after
 *   it is lost (the batch would be applied in Redis but replayed by the next owner; harmless thanks to the offset
 *   fence, but a graceful stop should leave nothing to replay). Batches fetched after stop began are not touched.
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { isRetriable, errorMessage, FwError } from '../core/errors.js';
import { backoffMs, type BackoffPolicy } from '../core/backoff.js';
import { sleepWhile } from './sleep-while.js';
import type { BatchHandler, EventSource, SourceStatus } from './event-source.js';

/** Between rebuilds of a consumer that kafkajs does not restart itself. */
const RELAUNCH_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 30_000, jitter: 'equal' };

export interface KafkaSourceOptions {
  /** The daemon's one client (kafka-client.ts). */
  kafka: Kafka;
  topics: string[];
  groupId: string;
  fromBeginning: boolean;
  logger: Logger;
  /** Consumption, retry and lag metrics (the events source); absent: none are recorded (deploy markers). */
  metrics?: Metrics;
  /** The `component` of this consumer's log lines (default `kafka-source`). */
  component?: string;
  /** Max bytes fetched per partition per request; bounds batch size and memory. */
  maxBytesPerPartition?: number;
  sessionTimeoutMs?: number;
  /** Longest a fetch waits at the broker when there is nothing new (default 500 ms, Kafka's own client default).
   *  kafkajs' 5 s default is harmless on a real broker, which answers as soon as data arrives, but a broker that
   *  holds an empty fetch for the whole wait (librdkafka's mock cluster does) then stalls a consumer that has just
   *  caught up for up to 5 s when new data comes. */
  maxWaitTimeMs?: number;
  /** How often applied offsets are committed to Kafka (default 1 s). */
  commitIntervalMs?: number;
  /** Partitions whose batches are handled at the same time (default 4). */
  partitionsConcurrency?: number;
  /** Longest stop() waits for the batch in flight and the final commit (default 5 s). */
  stopBudgetMs?: number;
  /** Backoff bounds for retriable handler failures. */
  retryBaseMs?: number;
  retryCapMs?: number;
}

export class KafkaSource implements EventSource {
  private consumer: Consumer | null = null;
  private connected = false;
  private lastError: string | undefined;
  private assigned: { topic: string; partition: number }[] = [];
  private stopping = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** Next offset to commit per `topic\u0000partition`, applied but not yet committed. */
  private readonly pendingCommits = new Map<string, { topic: string; partition: number; offset: string }>();
  private lastCommitAt = 0;
  private committing: Promise<void> | null = null;
  private commitTimer: NodeJS.Timeout | undefined;
  private handler: BatchHandler | null = null;
  private relaunches = 0;
  private relaunchTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: KafkaSourceOptions) {
    if (opts.topics.length === 0 || opts.topics.some((t) => !t)) {
      const got = JSON.stringify(opts.topics);
      throw new FwError('KAFKA_BAD_OPTIONS', `a kafka consumer needs at least one topic and no empty one, got ${got}`);
    }
    if (!opts.groupId) throw new FwError('KAFKA_BAD_OPTIONS', 'the kafka consumer group must not be empty');
    this.log = opts.logger.child({ component: opts.component ?? 'kafka-source' });
  }

  status(): SourceStatus {
    return {
      connected: this.connected,
      ...(this.connected ? {} : { reason: this.lastError ?? 'not yet a member of the consumer group' }),
      assigned: this.assigned,
    };
  }

  async start(handler: BatchHandler): Promise<void> {
    this.handler = handler;
    await this.launch();
  }

  /** Creates, connects and runs a consumer. Called again after a crash kafkajs will not recover from itself. */
  private async launch(): Promise<void> {
    const handler = this.handler!;
    const consumer = this.opts.kafka.consumer({
      groupId: this.opts.groupId,
      sessionTimeout: this.opts.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.min(3_000, Math.floor((this.opts.sessionTimeoutMs ?? 30_000) / 3)),
      maxBytesPerPartition: this.opts.maxBytesPerPartition ?? 1024 * 1024,
      maxWaitTimeInMs: this.opts.maxWaitTimeMs ?? 500,
      allowAutoTopicCreation: true,
      // Bad input never reaches here (it goes to the dead-letter topic), so a crash is a broker or Redis outage or a
      // bug; a daemon that silently stops consuming is worse than one that restarts (with kafkajs' backoff) and
      // keeps saying so in the log and /readyz.
      retry: { retries: 10, restartOnFailure: async () => true },
    });
    this.consumer = consumer;
    const { GROUP_JOIN, CRASH, DISCONNECT, STOP } = consumer.events;
    consumer.on(GROUP_JOIN, (e) => {
      this.connected = true;
      this.lastError = undefined;
      this.relaunches = 0;
      const assignment = e.payload.memberAssignment as Record<string, number[]>;
      this.assigned = Object.entries(assignment).flatMap(([topic, ps]) =>
        ps.map((partition) => ({ topic, partition })),
      );
      const groupId = this.opts.groupId;
      this.log.info({ assigned: assignment, memberId: e.payload.memberId, groupId }, 'joined consumer group');
    });
    consumer.on(CRASH, (e) => {
      this.connected = false;
      this.lastError = `consumer crashed: ${errorMessage(e.payload.error)}${e.payload.restart ? ' (restarting)' : ''}`;
      this.log.error({ err: e.payload.error, restart: e.payload.restart }, 'kafka consumer crashed');
      // kafkajs restarts by itself only after retriable errors; after the others, we rebuild the consumer.
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

    // Applied offsets are committed when a batch ends after the interval, and by this timer when no batch comes.
    clearInterval(this.commitTimer);
    this.commitTimer = setInterval(() => void this.flushCommits(), this.opts.commitIntervalMs ?? 1_000);
    this.commitTimer.unref();
    await consumer.connect();
    for (const topic of this.opts.topics) await consumer.subscribe({ topic, fromBeginning: this.opts.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.opts.partitionsConcurrency ?? 4,
      eachBatch: (payload) => {
        if (this.stopping) return Promise.resolve(); // not resolved, not committed: the next owner reads it
        const p = this.onBatch(payload, handler);
        const tracked: Promise<void> = p.catch(() => undefined).finally(() => this.inFlight.delete(tracked));
        this.inFlight.add(tracked);
        return p;
      },
    });
  }

  private scheduleRelaunch(dead: Consumer): void {
    const wait = backoffMs(this.relaunches++, RELAUNCH_BACKOFF, Math.random);
    this.log.warn({ waitMs: wait, attempt: this.relaunches }, 'restarting the kafka consumer');
    this.relaunchTimer = setTimeout(async () => {
      if (this.stopping) return;
      await dead.disconnect().catch(() => undefined);
      this.launch().catch((err) => {
        this.lastError = `consumer restart failed: ${errorMessage(err)}`;
        this.log.error({ err: errorMessage(err) }, 'kafka consumer restart failed');
        if (this.consumer && !this.stopping) this.scheduleRelaunch(this.consumer);
      });
    }, wait);
    // A pending restart must not keep a process alive that is otherwise done (stop() clears it anyway).
    this.relaunchTimer.unref();
  }

  private async onBatch(payload: EachBatchPayload, handler: BatchHandler): Promise<void> {
    const { batch, heartbeat, isRunning, isStale, resolveOffset } = payload;
    if (batch.messages.length === 0) return;
    // kafkajs' message objects as they are (SourceMessage): no copy per message.
    const messages = batch.messages;
    const metrics = this.opts.metrics;
    metrics?.eventsConsumed.inc({ topic: batch.topic }, messages.length);
    const isActive = () => isRunning() && !isStale() && !this.stopping;

    let last: string | null = messages[messages.length - 1]!.offset;
    for (let attempt = 0; ; attempt++) {
      try {
        const { topic, partition, highWatermark } = batch;
        const progress = await handler({ topic, partition, messages, highWatermark, heartbeat, isActive });
        if (progress) last = progress.doneThrough;
        break;
      } catch (err) {
        if (!isRetriable(err) || !isActive()) throw err;
        const retry = { baseMs: this.opts.retryBaseMs ?? 200, capMs: this.opts.retryCapMs ?? 5_000 };
        const wait = backoffMs(attempt, { ...retry, jitter: 'equal' }, Math.random);
        metrics?.batchesApplied.inc({ outcome: 'retry' });
        this.log.warn(
          { err: errorMessage(err), topic: batch.topic, partition: batch.partition, attempt, waitMs: wait },
          'batch not applied; retrying (nothing committed)',
        );
        await sleepWhile(wait, isActive, heartbeat);
        if (!isActive()) return; // stop or rebalance: leave the batch uncommitted for the next owner
      }
    }

    if (last === null) return; // the handler finished none of it: nothing to commit
    resolveOffset(last);
    const next = (BigInt(last) + 1n).toString();
    this.pendingCommits.set(`${batch.topic}\u0000${batch.partition}`, {
      topic: batch.topic,
      partition: batch.partition,
      offset: next,
    });
    const lag = BigInt(batch.highWatermark) - BigInt(next);
    metrics?.consumerLag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(lag < 0n ? 0n : lag));
    if (Date.now() - this.lastCommitAt >= (this.opts.commitIntervalMs ?? 1_000)) await this.flushCommits();
  }

  /** Commits every applied-but-uncommitted offset. Failures are not fatal (see the module comment). */
  private flushCommits(): Promise<void> {
    if (this.committing) return this.committing;
    this.committing = (async () => {
      this.lastCommitAt = Date.now();
      const batch = [...this.pendingCommits.values()];
      if (batch.length === 0 || !this.consumer) return;
      this.pendingCommits.clear();
      try {
        await this.consumer.commitOffsets(batch);
      } catch (err) {
        // Typical cause: a rebalance began; whoever owns the partitions now skips what Redis already has.
        this.log.warn(
          { err: errorMessage(err), offsets: batch },
          'offset commit failed; applied batches will be skipped on redelivery',
        );
      }
    })().finally(() => {
      this.committing = null;
    });
    return this.committing;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.relaunchTimer);
    // The flush loop below commits what the last batches leave; the timer must not outlive stop() either way.
    clearInterval(this.commitTimer);
    const c = this.consumer;
    if (!c) return;
    try {
      // Bounded: during a rebalance kafkajs retries a commit for many seconds, and the process must still stop
      // within its shutdown deadline. Giving up is safe: Redis records what was applied, and whoever reads these
      // partitions next skips it; only the committed position in Kafka lags.
      const drained = (async () => {
        await Promise.all(this.inFlight);
        // A commit already under way may have taken its snapshot before the last batches: flush until none is left.
        while (this.committing || this.pendingCommits.size > 0) await this.flushCommits();
      })();
      const budget = this.opts.stopBudgetMs ?? 5_000;
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        drained.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), budget))),
      ]);
      clearTimeout(timer);
      if (late)
        this.log.warn(
          { budgetMs: budget },
          'stopping without waiting longer for the last batch or commit; it will be skipped on redelivery',
        );
      await c.stop();
    } finally {
      await c.disconnect();
      this.connected = false;
    }
  }
}
