/**
 * The leader lease: exactly one replica evaluates rules and writes alert state at a time, and a replica that lost
 * the lease cannot write even if it does not know yet.
 *
 * Two mechanisms, because either alone is not enough:
 * - The lease (`<prefix>:{alerts}:lease`, value `<token>:<owner>`, PX ttl) is taken and renewed by one Lua call
 *   (lua/lease-1.lua). Locally a replica counts itself leader only until `start of its last successful renewal +
 *   ttl − safety margin`, measured on the injected clock: the renewal reached Redis after it started, so Redis
 *   keeps the key at least that long, and the margin covers clock-rate drift and the time to act on the answer.
 * - Fencing: each new holder gets a larger token from a counter that never expires (`…:lease-token`). Writers pass
 *   their token and the write's Lua checks it against the lease key (alert-commit-1.lua), so a replica paused past
 *   its lease (GC, a stopped VM, a slow Redis) has its write refused instead of overwriting the new leader's state.
 *   `fencedWrite` ties a refused write back to the lease: the replica stops counting itself leader at once.
 *
 * All keys share the hash tag `{alerts}`, so the lease and every fenced write land in one Redis Cluster slot.
 */
import type { Clock } from '../core/clock.js';
import { FwError, errorMessage } from '../core/errors.js';
import type { Logger } from '../obs/logger.js';
import { alertsKeys } from '../redis/alert-keys.js';
import type { RedisLike } from '../redis/client.js';
import { redisFailure } from '../redis/failure.js';
import { scriptSet } from '../redis/scripts.js';

export type { RedisLike };

const ENGINE_SCRIPT_FILES = {
  leaseAcquire: 'lease-1.lua',
  leaseRelease: 'lease-release-1.lua',
  alertCommit: 'alert-commit-1.lua',
} as const;

export type EngineCommand = keyof typeof ENGINE_SCRIPT_FILES;

const engineScripts = scriptSet(import.meta.url, ENGINE_SCRIPT_FILES);

/** Defines the engine's commands on a client (idempotent; defining again replaces the same script). */
export function defineEngineCommands(redis: RedisLike): void {
  engineScripts.define(redis);
}

/**
 * Redis failures as FwErrors with the engine's codes: `<area>_REDIS_UNAVAILABLE` (retriable: connection loss,
 * timeouts, failover) or `<area>_REDIS_REPLY` (Redis refused the command: a bug, not worth retrying).
 */
export function engineRedisFailure(err: unknown, area: 'LEASE' | 'ALERT', context: string): FwError {
  return redisFailure(err, area, context);
}

/** Runs a defined engine command; failures come back as FwErrors of `area`. */
export async function callEngineCommand(
  redis: RedisLike,
  cmd: EngineCommand,
  area: 'LEASE' | 'ALERT',
  keys: string[],
  argv: (string | number)[],
  context: string,
): Promise<unknown> {
  return engineScripts.run(redis, cmd, keys, argv, area, context);
}

export interface LeaseOptions {
  redis: RedisLike;
  /** Key prefix, as FW_REDIS_PREFIX. */
  prefix: string;
  /**
   * Instance id; should be unique per live replica (two with one id still never share the lease: renewal needs the
   * token).
   */
  owner: string;
  ttlMs: number;
  clock: Clock;
  /**
   * The lease key; default the leader lease `<prefix>:{alerts}:lease`. Evaluation shards (shards.ts) each have
   * their own, `<prefix>:{alerts}:shard-lease:<shard>`: same hash tag, so the fenced commit can check it.
   */
  key?: string;
  /** Default ttlMs / 3: two renewals may fail before the lease is lost. */
  renewEveryMs?: number;
  /** Time before the lease's end at which this replica stops counting itself leader. Default ttlMs / 10. */
  safetyMarginMs?: number;
  /** Called when leadership (or the token while leading) changes, after a try or when local validity ran out. */
  onChange?: (leader: boolean, token: number | undefined) => void;
  logger?: Logger;
}

export interface LeaseStatus {
  leader: boolean;
  token: number | undefined;
  /** The owner holding the lease (ours when leader); null if nobody does. */
  holder: string | null;
  /** Remaining ms of the lease in Redis (negative if the key has no expiry, i.e. was not written by a lease). */
  expiresInMs: number;
}

export class LeaderLease {
  private readonly key: string;
  private readonly renewEveryMs: number;
  private readonly marginMs: number;
  /** What we hold: our token and the clock time until which we count ourselves leader. */
  private held: { token: number; validUntil: number } | undefined;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<LeaseStatus> | null = null;
  private stopped = false;
  private reported: { leader: boolean; token: number | undefined } = { leader: false, token: undefined };
  private failing = false;

  constructor(private readonly o: LeaseOptions) {
    if (!Number.isInteger(o.ttlMs) || o.ttlMs <= 0) {
      throw new FwError('LEASE_BAD_OPTIONS', `lease ttlMs must be a positive whole number of ms, got ${o.ttlMs}`);
    }
    if (!o.owner) throw new FwError('LEASE_BAD_OPTIONS', 'lease owner (instance id) must not be empty');
    this.marginMs = o.safetyMarginMs ?? Math.ceil(o.ttlMs / 10);
    this.renewEveryMs = o.renewEveryMs ?? Math.floor(o.ttlMs / 3);
    if (this.marginMs < 0 || this.renewEveryMs <= 0 || this.renewEveryMs >= o.ttlMs - this.marginMs) {
      // Renewing no more often than the local validity lasts would make leadership flap between renewals.
      throw new FwError(
        'LEASE_BAD_OPTIONS',
        `lease renewEveryMs (${this.renewEveryMs}) must be positive and below ttlMs − ` +
          `safetyMarginMs (${o.ttlMs} − ${this.marginMs})`,
      );
    }
    this.key = o.key ?? alertsKeys(o.prefix).lease;
    defineEngineCommands(o.redis);
  }

  /** Acquires the lease if it is free, renews it if it is ours; one Redis call. Concurrent calls share it. */
  tryAcquire(): Promise<LeaseStatus> {
    if (this.stopped) {
      return Promise.reject(
        new FwError('LEASE_STOPPED', `the lease of ${this.o.owner} was stopped; make a new LeaderLease`),
      );
    }
    this.inFlight ??= this.attempt().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async attempt(): Promise<LeaseStatus> {
    const started = this.o.clock.now();
    let reply: unknown;
    try {
      reply = await callEngineCommand(
        this.o.redis,
        'leaseAcquire',
        'LEASE',
        [this.key],
        [this.o.owner, this.o.ttlMs, this.held ? String(this.held.token) : ''],
        `leader lease of ${this.o.owner}`,
      );
    } catch (err) {
      // The lease may still be ours in Redis; we keep counting ourselves leader until the local validity ends.
      this.report();
      throw err;
    }
    const status = this.interpret(reply, started);
    this.report();
    return status;
  }

  private interpret(reply: unknown, started: number): LeaseStatus {
    if (!Array.isArray(reply) || reply.length !== 3) {
      if (Array.isArray(reply) && Number(reply[0]) === -2) {
        throw new FwError('LEASE_BAD_ARGUMENTS', `leader lease: the script refused its arguments: ${String(reply[1])}`);
      }
      throw new FwError('LEASE_BAD_REPLY', `leader lease: unexpected reply ${JSON.stringify(reply)}`);
    }
    if (Number(reply[0]) === 1) {
      const token = Number(reply[1]);
      this.held = { token, validUntil: started + this.o.ttlMs - this.marginMs };
      return { leader: true, token, holder: this.o.owner, expiresInMs: Number(reply[2]) };
    }
    this.held = undefined;
    const value = String(reply[1]);
    const colon = value.indexOf(':');
    return {
      leader: false,
      token: undefined,
      holder: colon >= 0 ? value.slice(colon + 1) : value,
      expiresInMs: Number(reply[2]),
    };
  }

  /** Renews every renewEveryMs (an unref'd timer: it never keeps the process alive) and tries once right away. */
  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.tick(), this.renewEveryMs);
    this.timer.unref();
    this.tick();
  }

  private tick(): void {
    // Report first: a renewal that hangs must not hide that the local validity ran out.
    this.report();
    this.tryAcquire().then(
      () => {
        if (this.failing) this.o.logger?.info({ owner: this.o.owner }, 'leader lease: Redis answers again');
        this.failing = false;
      },
      (err: unknown) => {
        // Logged once per outage, not at every renewal.
        if (!this.failing && !this.stopped) {
          this.o.logger?.warn({ owner: this.o.owner, err: errorMessage(err) }, 'leader lease: renewal failed');
        }
        this.failing = true;
      },
    );
  }

  /** True only while the last successful renewal started less than ttl − safety margin ago (injected clock). */
  isLeader(): boolean {
    return this.held !== undefined && this.o.clock.now() < this.held.validUntil;
  }

  /** Our fencing token while we lead; undefined otherwise. */
  token(): number | undefined {
    return this.isLeader() ? this.held?.token : undefined;
  }

  /**
   * A fenced write found another token in the lease: someone else leads. Forget our lease now instead of at the
   * end of the local validity. A token we no longer hold is ignored (we may have re-acquired meanwhile).
   */
  markLost(token: number): void {
    if (this.held?.token !== token) return;
    this.held = undefined;
    this.report();
  }

  /** Stops renewing and releases the lease if we hold it, so another replica takes over at its next try. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight?.catch(() => undefined);
    const held = this.held;
    this.held = undefined;
    if (held) {
      try {
        await callEngineCommand(
          this.o.redis,
          'leaseRelease',
          'LEASE',
          [this.key],
          [`${held.token}:${this.o.owner}`],
          `releasing the leader lease of ${this.o.owner}`,
        );
      } catch (err) {
        // Shutdown goes on: the lease then simply expires after its ttl.
        this.o.logger?.warn(
          { owner: this.o.owner, err: errorMessage(err) },
          'leader lease: release failed; it expires on its own',
        );
      }
    }
    this.report();
  }

  private report(): void {
    const leader = this.isLeader();
    const token = leader ? this.held?.token : undefined;
    if (leader === this.reported.leader && token === this.reported.token) return;
    this.reported = { leader, token };
    this.o.logger?.info({ owner: this.o.owner, leader, token }, leader ? 'leader lease acquired' : 'leader lease lost');
    this.o.onChange?.(leader, token);
  }
}

/**
 * A write that only lands while we lead with a current token: not attempted when we do not lead, and a write the
 * store refused as fenced (another replica holds the lease now) makes the lease forget its leadership at once.
 * `write` receives the token to pass to a fenced store call (RedisAlertStore.commit) and answers 'fenced' when the
 * store refused it.
 */
export async function fencedWrite<T>(
  lease: LeaderLease,
  write: (token: number) => Promise<T | 'fenced'>,
): Promise<T | 'fenced' | 'not_leader'> {
  const token = lease.token();
  if (token === undefined) return 'not_leader';
  const result = await write(token);
  if (result === 'fenced') lease.markLost(token);
  return result;
}
