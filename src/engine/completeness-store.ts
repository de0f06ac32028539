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

const KEEP_MS = 7 * 86_400_000;

export class RedisCompletenessStore implements CompletenessPersistence {
  private readonly key: string;
  /** Sharded evaluation: one field per curve, so each shard writes only its own curves (never another's). */
  private readonly hashKey: string;
  /**
   * `sharded`: save() writes the curves it is given into the hash, field by field (engine/sharded-evaluation.ts:
   * one evaluator per shard, each saving its funnels' curves). Otherwise the single evaluator's snapshot replaces
   * the whole string key. load() reads both, the hash winning, so gates and explain see every curve either way.
   */
  constructor(private readonly o: { redis: Redis | Cluster; prefix: string; sharded?: boolean }) {
    // Same hash tag as the alert states: one slot for everything the evaluator owns.
    this.key = `${o.prefix}:{alerts}:completeness`;
    this.hashKey = `${o.prefix}:{alerts}:completeness-curves`;
  }

  async load(): Promise<Record<string, CompletenessState>> {
    let raw: string | null;
    let fields: Record<string, string>;
    try {
      [raw, fields] = await Promise.all([this.o.redis.get(this.key), this.o.redis.hgetall(this.hashKey)]);
    } catch (err) {
      throw new FwError('ALERT_REDIS_UNAVAILABLE', `completeness curves: ${errorMessage(err)}`, { cause: err });
    }
    const out: Record<string, CompletenessState> = {};
    try {
      if (raw) Object.assign(out, JSON.parse(raw) as Record<string, CompletenessState>);
    } catch {
      // unreadable: learn again rather than fail evaluation
    }
    for (const [k, v] of Object.entries(fields)) {
      try {
        out[k] = JSON.parse(v) as CompletenessState;
      } catch {
        // one unreadable curve is learned again
      }
    }
    return out;
  }

  async save(snapshot: Record<string, CompletenessState>): Promise<void> {
    try {
      if (this.o.sharded) {
        const entries = Object.entries(snapshot);
        if (entries.length === 0) return;
        await this.o.redis.hset(this.hashKey, Object.fromEntries(entries.map(([k, v]) => [k, JSON.stringify(v)])));
        await this.o.redis.pexpire(this.hashKey, KEEP_MS);
      } else {
        // Kept a week: long enough for any failover, short enough that a removed funnel's curve goes away.
        await this.o.redis.set(this.key, JSON.stringify(snapshot), 'PX', KEEP_MS);
      }
    } catch (err) {
      throw new FwError('ALERT_REDIS_UNAVAILABLE', `completeness curves: ${errorMessage(err)}`, { cause: err });
    }
  }
}
