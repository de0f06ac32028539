/**
 * Deploy markers from a Kafka topic, for CD systems that already publish their releases there: the batch handler
 * the daemon plugs into a KafkaSource (ingest/kafka-source.ts) of its own consumer group.
 *
 * The consumer group is its own (`<FW_KAFKA_GROUP>-deploys` by convention), separate from the events group: the
 * replicas share it, so each marker is read by one of them, and its offsets never mix with the events' ones.
 *
 * Every message is a JSON marker as POST /v1/deploys takes it. A marker without `ts` gets the message's own
 * timestamp, not the time it is read, so a redelivery computes the same id and is recognised as a duplicate.
 * A message that is not a valid marker is logged with its topic, partition, offset and reason, reported through
 * `onRejected`, and skipped: one bad producer must not stop the markers behind it. Nothing here throws out of the
 * message loop; a Redis failure (retriable) is retried in place, per message, with backoff while heartbeating
 * (so a rejection is reported once, not again with every retry of the batch), and the batch is committed only
 * through the messages that were stored or rejected.
 */
import type { Clock } from '../core/clock.js';
import { errorMessage, isRetriable } from '../core/errors.js';
import type { Logger } from '../obs/logger.js';
import type { BatchHandler, SourceBatch, SourceMessage } from '../ingest/event-source.js';
import { backoffMs } from '../core/backoff.js';
import { sleepWhile } from '../ingest/sleep-while.js';
import { validateDeployInput, type Deploy } from './deploy.js';
import type { DeployStore } from './deploy-store.js';

/** As POST /v1/deploys: a marker is far smaller; a bigger message is not one. */
export const DEPLOY_MESSAGE_MAX_BYTES = 64 * 1024;

export interface DeployMessageRef {
  topic: string;
  partition: number;
  offset: string;
}

export interface DeployMarkerHandlerOptions {
  store: DeployStore;
  logger: Logger;
  clock: Clock;
  /** Called (not awaited) after a new marker is stored; duplicates do not call it. */
  onDeploy?: (deploy: Deploy) => void | Promise<void>;
  /** Called for each message skipped as invalid, with the reason logged for it. */
  onRejected?: (reason: string, where: DeployMessageRef) => void;
  /** Backoff bounds for Redis failures. */
  retryBaseMs?: number;
  retryCapMs?: number;
}

export function createDeployMarkerHandler(o: DeployMarkerHandlerOptions): BatchHandler {
  const log = o.logger.child({ component: 'deploy-consumer' });

  const reject = (reason: string, where: DeployMessageRef, message: SourceMessage): void => {
    log.warn({ ...where, key: message.key?.toString('utf8'), reason }, 'deploy marker rejected (skipped)');
    try {
      o.onRejected?.(reason, where);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'onRejected failed');
    }
  };

  const forward = (d: Deploy): void => {
    if (!o.onDeploy) return;
    try {
      Promise.resolve(o.onDeploy(d)).catch((err: unknown) =>
        log.warn({ deploy: d.id, err: errorMessage(err) }, 'onDeploy failed'),
      );
    } catch (err) {
      log.warn({ deploy: d.id, err: errorMessage(err) }, 'onDeploy failed');
    }
  };

  /** Stores or rejects one message; false when it was left for later (stop or rebalance during a Redis outage). */
  const handle = async (message: SourceMessage, where: DeployMessageRef, batch: SourceBatch): Promise<boolean> => {
    const parsed = parseDeployMessage(message.value);
    if (!parsed.ok) {
      reject(parsed.reason, where, message);
      return true;
    }
    const now = o.clock.now();
    const sentAt = Number(message.timestamp);
    const checked = validateDeployInput(parsed.body, now, {
      maxAgeMs: o.store.retentionMs,
      ...(Number.isFinite(sentAt) && sentAt > 0 ? { defaultTs: sentAt } : {}),
    });
    if (!checked.ok) {
      reject(checked.problems.join('; '), where, message);
      return true;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const { deploy, duplicate } = await o.store.add(checked.value);
        if (duplicate) {
          log.debug({ deploy: deploy.id, ...where }, 'deploy marker already recorded');
        } else {
          log.info(
            {
              deploy: deploy.id,
              service: deploy.service,
              version: deploy.version,
              environment: deploy.environment,
              ts: new Date(deploy.ts).toISOString(),
              ...where,
            },
            'deploy marker recorded',
          );
          forward(deploy);
        }
        return true;
      } catch (err) {
        if (!isRetriable(err)) {
          reject(errorMessage(err), where, message);
          return true;
        }
        if (!batch.isActive()) return false;
        const wait = backoffMs(
          attempt,
          { baseMs: o.retryBaseMs ?? 200, capMs: o.retryCapMs ?? 5_000, jitter: 'equal' },
          Math.random,
        );
        log.warn({ err: errorMessage(err), ...where, attempt, waitMs: wait }, 'deploy marker not stored; retrying');
        await sleepWhile(wait, batch.isActive, batch.heartbeat);
        if (!batch.isActive()) return false;
      }
    }
  };

  return async (batch) => {
    let doneThrough: string | null = null;
    for (const message of batch.messages) {
      if (!batch.isActive()) break;
      const where: DeployMessageRef = { topic: batch.topic, partition: batch.partition, offset: message.offset };
      // Not done: stopping or rebalancing mid-retry; the offset stays, and whoever reads next stores it.
      if (!(await handle(message, where, batch))) break;
      doneThrough = message.offset;
      await batch.heartbeat().catch(() => undefined);
    }
    return { doneThrough };
  };
}

/** The JSON body of a deploy message, or why it is not one. */
export function parseDeployMessage(value: Buffer | null): { ok: true; body: unknown } | { ok: false; reason: string } {
  if (value === null || value.length === 0)
    return { ok: false, reason: 'empty message (a tombstone?); expected a JSON deploy marker' };
  if (value.length > DEPLOY_MESSAGE_MAX_BYTES)
    return {
      ok: false,
      reason: `message of ${value.length} bytes; a deploy marker is at most ${DEPLOY_MESSAGE_MAX_BYTES}`,
    };
  try {
    return { ok: true, body: JSON.parse(value.toString('utf8')) };
  } catch (err) {
    return { ok: false, reason: `not JSON: ${errorMessage(err)}` };
  }
}

/** A rejection reason as a metric label: a fixed set keeps the label's cardinality bounded (the log has the rest). */
export function deployRejectLabel(reason: string): 'empty' | 'too_large' | 'not_json' | 'invalid' {
  if (reason.startsWith('empty')) return 'empty';
  if (reason.startsWith('message of')) return 'too_large';
  return reason.startsWith('not JSON') ? 'not_json' : 'invalid';
}
