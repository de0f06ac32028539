/**
 * Redis losing its data (FLUSHALL, a restart without persistence, a failover to an empty replica) must not leave
 * the daemon working from what it had cached of Redis: the outbox's consumer group, the window store's registered
 * partitions and dimension codes, the evaluator's alert states. Nothing of that is re-checked on the hot path, so
 * a loss is noticed here and every cache registered with `onLost` is dropped, to be derived again from Redis.
 *
 * A loss shows in three ways, all reported through `lost(what)` (logged as an error, counted in
 * fw_redis_state_lost_total{what}, shown as a /readyz warning for `warnForMs`):
 * - `epoch`: a marker key written once per Redis data set (`<prefix>:{alerts}:epoch`, a random value, no expiry)
 *   is gone or holds another value than the one this process saw. `check()` runs it, on every tick and whenever
 *   the connection is ready again after an outage. Every replica remembers the value it saw, so the one that
 *   writes the new marker and the ones that find it written all notice.
 * - a component that meets the loss itself: the outbox reading from a consumer group that is gone (NOGROUP), the
 *   window store finding a partition it wrote to without its meta. They re-derive their own state and report.
 * Lua scripts need nothing here: ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT (redis/scripts.ts).
 */
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { RedisLike } from './client.js';

export interface RedisStateWatchOptions {
  redis: RedisLike;
  /** The marker key (alertsKeys(prefix).epoch). */
  key: string;
  logger: Logger;
  metrics?: Metrics;
  /** How long /readyz shows a loss as a warning. Default 10 min. */
  warnForMs?: number;
  now?: () => number;
}

export class RedisStateWatch {
  private seen: string | undefined;
  private readonly listeners: (() => void)[] = [];
  private last: { at: number; what: string } | undefined;
  private inFlight: Promise<boolean> | null = null;

  constructor(private readonly o: RedisStateWatchOptions) {}

  /** `drop` runs after every loss: it forgets what its component cached of Redis. */
  onLost(drop: () => void): void {
    this.listeners.push(drop);
  }

  /** Reports a loss (`what` showed it): logged, counted, shown on /readyz, and every cache dropped. */
  lost(what: string, detail?: string): void {
    const now = (this.o.now ?? Date.now)();
    this.last = { at: now, what };
    this.o.metrics?.redisStateLost.inc({ what });
    this.o.logger.error(
      { what, ...(detail ? { detail } : {}) },
      'Redis lost state this daemon relies on (flushed, restarted without persistence, or failed over to an ' +
        'empty replica); re-deriving it. Data written before the loss (windows, alert states, queued deliveries) ' +
        'is gone.',
    );
    for (const drop of this.listeners) {
      try {
        drop();
      } catch (err) {
        this.o.logger.error({ err: errorMessage(err) }, 'could not drop a cache after a Redis state loss');
      }
    }
  }

  /**
   * Looks at the marker: absent or changed since this process last saw it means a loss (reported here). Returns
   * whether it found one. The first look of a process only remembers the marker (nothing to compare with).
   * Concurrent calls share one look.
   */
  check(): Promise<boolean> {
    this.inFlight ??= this.look().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async look(): Promise<boolean> {
    let value = await this.o.redis.get(this.o.key);
    if (value === null) {
      const mine = `${Date.now()}-${randomBytes(6).toString('hex')}`;
      const set = await this.o.redis.set(this.o.key, mine, 'NX');
      value = set === 'OK' ? mine : await this.o.redis.get(this.o.key);
    }
    const before = this.seen;
    if (value !== null) this.seen = value;
    if (before !== undefined && value !== before) {
      this.lost('epoch', 'the epoch marker key was gone or replaced');
      return true;
    }
    return false;
  }

  /** For /readyz: a sentence while the last loss is recent, else null. */
  warning(): string | null {
    if (!this.last) return null;
    const now = (this.o.now ?? Date.now)();
    const ago = now - this.last.at;
    if (ago > (this.o.warnForMs ?? 10 * 60_000)) return null;
    return (
      `Redis lost its data ${Math.round(ago / 1000)} s ago (noticed by ${this.last.what}); the daemon re-derived ` +
      'its state, but windows, alert states and queued deliveries written before the loss are gone'
    );
  }
}
