/**
 * Evaluation spread across replicas: the work is cut into shards (one per funnel: a funnel's rules share its data
 * reads, its data-quality guards inhibit its own rules, and its completeness curves are its own, so a funnel is the
 * smallest unit that can be evaluated without talking to another replica), and each shard is held by one replica
 * through a fenced lease of its own (lease.ts with the key `<prefix>:{alerts}:shard-lease:<shard>`).
 *
 * - Membership: every replica beats into `<prefix>:{alerts}:members` (lua/members-1.lua: expiry on Redis' clock,
 *   expired members dropped) every ttl/3 and gets the live members back.
 * - Assignment: rendezvous hashing over the live members: a shard belongs to the member with the highest
 *   hash(member, shard). Every replica computes the same answer from the same member list, without a coordinator;
 *   a member joining or leaving moves only the shards it wins or held (about 1/n of them).
 * - Handoff: a replica renews the leases of the shards it is assigned and releases the others at its next beat;
 *   a newly assigned replica gets a shard only once the old holder released it (graceful) or its lease lapsed
 *   (crash, partition): never two holders. A holder that missed the change is fenced: its commit carries
 *   "<token>/<shard>" and alert-commit-1.lua checks it against the shard's lease, so a stale holder writes nothing.
 * - A dead replica's shards: its heartbeat expires after ttl, its leases after ttl; the next beat of the new owner
 *   after both takes them, so a shard moves within about ttl + ttl/3.
 * - One replica alone is the only member and holds every shard.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { errorMessage, FwError } from '../core/errors.js';
import type { Logger } from '../obs/logger.js';
import { alertsKeys, shardLeaseKey } from '../redis/alert-keys.js';
import type { RedisLike } from '../redis/client.js';
import { scriptSet } from '../redis/scripts.js';
import type { LeaseView } from './evaluator.js';
import { LeaderLease } from './lease.js';

const shardScripts = scriptSet(import.meta.url, { members: 'members-1.lua' } as const);

/** The member's score for a shard: the first 8 bytes of sha256(member NUL shard). */
function score(member: string, shard: string): bigint {
  return createHash('sha256').update(`${member}\0${shard}`).digest().readBigUInt64BE(0);
}

/** The member a shard belongs to under rendezvous hashing (ties, practically impossible, go to the smaller name). */
export function rendezvousOwner(shard: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const m of members) {
    const s = score(m, shard);
    if (s > bestScore || (s === bestScore && best !== undefined && m < best)) {
      best = m;
      bestScore = s;
    }
  }
  return best;
}

export interface ShardCoordinatorOptions {
  redis: RedisLike;
  prefix: string;
  /** This replica's member name (its instance id; unique per live replica). */
  owner: string;
  /** Membership heartbeat and shard lease ttl, ms. */
  ttlMs: number;
  clock: Clock;
  /** The shards that exist now (the funnels of the current rule set). */
  shards: () => readonly string[];
  /** Called after a beat that changed which shards this replica holds. */
  onChange?: (owned: ReadonlyMap<string, number>) => void;
  logger?: Logger;
}

export class ShardCoordinator {
  private readonly membersKey: string;
  private readonly leases = new Map<string, LeaderLease>();
  private live: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private stopped = false;
  private failing = false;
  private reported = '';

  constructor(private readonly o: ShardCoordinatorOptions) {
    if (!Number.isInteger(o.ttlMs) || o.ttlMs < 3) {
      throw new FwError('LEASE_BAD_OPTIONS', `shard lease ttlMs must be a whole number of ms ≥ 3, got ${o.ttlMs}`);
    }
    if (!o.owner) throw new FwError('LEASE_BAD_OPTIONS', 'shard coordinator owner (instance id) must not be empty');
    this.membersKey = alertsKeys(o.prefix).members;
    shardScripts.define(o.redis);
  }

  /** Beats every ttl/3 (an unref'd timer) and once right away. */
  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.tick(), Math.floor(this.o.ttlMs / 3));
    this.timer.unref();
    this.tick();
  }

  private tick(): void {
    this.beat().then(
      () => {
        if (this.failing) this.o.logger?.info({ owner: this.o.owner }, 'shard coordinator: Redis answers again');
        this.failing = false;
      },
      (err: unknown) => {
        if (!this.failing && !this.stopped) {
          this.o.logger?.warn({ owner: this.o.owner, err: errorMessage(err) }, 'shard coordinator: beat failed');
        }
        this.failing = true;
        this.report();
      },
    );
  }

  /** One heartbeat, then the leases: renew or take the assigned shards, release the others. Concurrent calls share. */
  beat(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.inFlight ??= this.beatOnce().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async beatOnce(): Promise<void> {
    const live = (await shardScripts.run(
      this.o.redis,
      'members',
      [this.membersKey],
      [this.o.owner, this.o.ttlMs],
      'LEASE',
      `membership heartbeat of ${this.o.owner}`,
    )) as string[];
    // Our own beat just landed: we are live even if the answer raced an expiry.
    this.live = live.includes(this.o.owner) ? live : [...live, this.o.owner].sort();
    const mine = new Set(this.o.shards().filter((s) => rendezvousOwner(s, this.live) === this.o.owner));
    for (const [shard, lease] of this.leases) {
      if (!mine.has(shard)) {
        this.leases.delete(shard);
        await lease.stop();
      }
    }
    const errors: unknown[] = [];
    await Promise.all(
      [...mine].map(async (shard) => {
        let lease = this.leases.get(shard);
        if (!lease) {
          lease = new LeaderLease({
            redis: this.o.redis,
            prefix: this.o.prefix,
            key: shardLeaseKey(this.o.prefix, shard),
            owner: this.o.owner,
            ttlMs: this.o.ttlMs,
            clock: this.o.clock,
            // Beats come every ttl/3; the lease's own timer is not started.
            renewEveryMs: Math.floor(this.o.ttlMs / 3),
          });
          this.leases.set(shard, lease);
        }
        await lease.tryAcquire().catch((err: unknown) => errors.push(err));
      }),
    );
    this.report();
    if (errors.length > 0) throw errors[0];
  }

  /** The live members at the last beat (sorted). */
  members(): readonly string[] {
    return this.live;
  }

  /** Shards this replica holds now (lease valid on the injected clock), with their fencing tokens. */
  owned(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [shard, lease] of this.leases) {
      const t = lease.token();
      if (t !== undefined) out.set(shard, t);
    }
    return out;
  }

  /** The lease of one shard as the evaluator sees it (not leader when this replica does not hold it). */
  view(shard: string): LeaseView {
    return {
      isLeader: () => this.leases.get(shard)?.isLeader() ?? false,
      token: () => this.leases.get(shard)?.token(),
    };
  }

  /** A commit refused as fenced: this replica no longer holds the shard, whatever its lease believed. */
  markLost(shard: string, token: number): void {
    this.leases.get(shard)?.markLost(token);
    this.report();
  }

  /** Leaves: releases every shard (another replica takes them at its next beat) and drops out of the members. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight?.catch(() => undefined);
    const leases = [...this.leases.values()];
    this.leases.clear();
    await Promise.all(leases.map((l) => l.stop()));
    await shardScripts
      .run(this.o.redis, 'members', [this.membersKey], [this.o.owner, 0], 'LEASE', `${this.o.owner} leaving`)
      .catch((err: unknown) =>
        this.o.logger?.warn({ owner: this.o.owner, err: errorMessage(err) }, 'shard coordinator: leave failed'),
      );
    this.report();
  }

  private report(): void {
    const owned = this.owned();
    const key = [...owned].map(([s, t]) => `${s}=${t}`).join(',');
    if (key === this.reported) return;
    this.reported = key;
    this.o.logger?.info({ owner: this.o.owner, shards: [...owned.keys()] }, 'evaluation shards held');
    this.o.onChange?.(owned);
  }
}
