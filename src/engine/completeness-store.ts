/**
 * Persists the learned completeness curves (completeness.ts) so a replica that takes over the lease does not start
 * blind: without a curve, young cohorts are left out until it is learned again (about the conversion window plus
 * lateness), which would slow detection right after every failover. Written by the leader every few ticks; not
 * fenced, because a stale curve is harmless (it is an estimate that the next leader keeps refining).
 */
import type { Cluster, Redis } from 'ioredis';
import { FwError, errorMessage } from '../core/errors.js';
import type { CompletenessState } from './completeness.js';

export interface CompletenessPersistence {
  load(): Promise<Record<string, CompletenessState>>;
  save(snapshot: Record<string, CompletenessState>): Promise<void>;
}

export class RedisCompletenessStore implements CompletenessPersistence {
  private readonly key: string;
  constructor(private readonly o: { redis: Redis | Cluster; prefix: string }) {
    // Same hash tag as the alert states: one slot for everything the evaluator owns.
    this.key = `${o.prefix}:{alerts}:completeness`;
  }

  async load(): Promise<Record<string, CompletenessState>> {
    let raw: string | null;
    try {
      raw = await this.o.redis.get(this.key);
    } catch (err) {
      throw new FwError('ALERT_REDIS_UNAVAILABLE', `completeness curves: ${errorMessage(err)}`, { cause: err });
    }
    if (!raw) return {};
    try {
      return JSON.parse(raw) as Record<string, CompletenessState>;
    } catch {
      return {}; // unreadable: learn again rather than fail evaluation
    }
  }

  async save(snapshot: Record<string, CompletenessState>): Promise<void> {
    try {
      // Kept a week: long enough for any failover, short enough that a removed funnel's curve goes away.
      await this.o.redis.set(this.key, JSON.stringify(snapshot), 'PX', 7 * 86_400_000);
    } catch (err) {
      throw new FwError('ALERT_REDIS_UNAVAILABLE', `completeness curves: ${errorMessage(err)}`, { cause: err });
    }
  }
}
