/**
 * The instance id (FW_INSTANCE_ID) names what one daemon owns alone, such as direct HTTP ingest's stream
 * `http-<instance>` and its offsets: two live daemons with one id would assign the same offsets and each drop the
 * other's events as already seen. So the id is held by a lease in Redis (`<prefix>:instance:<id>`, value unique
 * per process, PX ttl, renewed every ttl/3, released on stop; lua/instance-lease-1.lua): a daemon whose id a live
 * daemon holds refuses to start. A daemon that dies without releasing frees its id after the ttl.
 *
 * When Redis is unreachable at start the lease is taken by the first renewal that reaches it; a renewal that finds
 * the id held by another process (it started while this one could not tell) reports a conflict (`conflict()`,
 * shown on /readyz) until the lease is ours again.
 */
import { FwError, errorMessage } from '../core/errors.js';
import type { Logger } from '../obs/logger.js';
import type { RedisLike } from './client.js';
import { defineScripts, loadScripts, runScript, type LuaScript } from './scripts.js';

let scripts: { lease: LuaScript } | undefined;
function leaseScripts(): { lease: LuaScript } {
  scripts ??= loadScripts(import.meta.url, { lease: 'instance-lease-1.lua' });
  return scripts;
}

export interface InstanceLeaseOptions {
  redis: RedisLike;
  prefix: string;
  /** The instance id. */
  id: string;
  /** Unique per process. */
  owner: string;
  /** Default 30 s. */
  ttlMs?: number;
  logger: Logger;
}

export class InstanceLease {
  private readonly key: string;
  private readonly ttlMs: number;
  private timer: NodeJS.Timeout | null = null;
  private holder: string | null = null;

  constructor(private readonly o: InstanceLeaseOptions) {
    this.key = `${o.prefix}:instance:${o.id}`;
    this.ttlMs = o.ttlMs ?? 30_000;
    defineScripts(o.redis, leaseScripts());
  }

  private async call(mode: 'take' | 'renew' | 'release'): Promise<string | null> {
    const reply = (await runScript(
      this.o.redis,
      leaseScripts().lease,
      [this.key],
      [this.o.owner, this.ttlMs, mode],
      'LEASE',
      `instance id lease of ${this.o.id}`,
    )) as [number, string];
    return Number(reply[0]) === 1 ? null : String(reply[1]);
  }

  /**
   * Takes the lease, then renews it in the background. Throws INSTANCE_ID_IN_USE when a live daemon holds the id;
   * a Redis that does not answer is not a refusal (logged; the renewals take the lease when Redis is back).
   */
  async start(): Promise<void> {
    let other: string | null;
    try {
      other = await this.call('take');
    } catch (err) {
      this.o.logger.warn(
        { err: errorMessage(err), id: this.o.id },
        'instance id lease: Redis not reachable; will retry',
      );
      other = null;
    }
    if (other !== null) {
      throw new FwError(
        'INSTANCE_ID_IN_USE',
        `FW_INSTANCE_ID "${this.o.id}" is in use by a live daemon (${other}); give every daemon its own id, or ` +
          `stop the other one (its lease expires ${Math.round(this.ttlMs / 1000)} s after it dies)`,
      );
    }
    this.timer = setInterval(() => void this.renew(), Math.floor(this.ttlMs / 3));
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    try {
      const other = await this.call('renew');
      if (other !== null && this.holder === null) {
        this.o.logger.error(
          { id: this.o.id, holder: other },
          'FW_INSTANCE_ID is held by another daemon: two daemons share one id and will lose ingested events',
        );
      }
      this.holder = other;
    } catch {
      // Redis away: the lease lasts its ttl; the next renewal tries again.
    }
  }

  /** The other owner holding our id, when a renewal found one; else null (for /readyz). */
  conflict(): string | null {
    return this.holder;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.call('release').catch(() => undefined);
  }
}
