/**
 * Deploy markers in Redis, under one hash tag so the add script touches a single Redis Cluster slot:
 *   `<prefix>:{deploys}:by-time`  sorted set, member = deploy id, score = deploy time (ms)
 *   `<prefix>:{deploys}:data`     hash, deploy id → Deploy JSON
 *
 * `add` is one Lua call (lua/deploy-add-2.lua) that trims markers older than the retention, then stores the marker
 * unless its id is already there. The id is a hash of (service, version, environment, ts), so "already there" is
 * exactly "the same marker sent again" (an HTTP retry, a Kafka redelivery, two replicas reading one message during
 * a rebalance), and the answer says which one was kept: the first.
 *
 * Trimming happens on writes only, a bounded number of markers per call: deploys are few (tens a day), so any
 * write removes all that expired since the previous one. Reads skip what is past the retention either way.
 *
 * Redis failures are FwError `DEPLOY_REDIS`, retriable: never the caller's fault (the HTTP layer answers 503 and
 * the Kafka consumer retries the message).
 */
import { FwError, errorMessage } from '../core/errors.js';
import type { RedisLike } from '../redis/client.js';
import { scriptSet } from '../redis/scripts.js';
import type { Logger } from '../obs/logger.js';
import { parseStoredDeploy, type Deploy } from './deploy.js';

export const DEPLOY_RETENTION_MS = 30 * 86_400_000;
/** Upper bound on one `between` answer: correlation needs the few nearest deploys, not a runaway script's thousands. */
export const DEPLOY_BETWEEN_MAX = 1000;
export const DEPLOY_LIST_DEFAULT_LIMIT = 100;
/** Most markers one list request may ask for. */
export const DEPLOY_LIST_MAX_LIMIT = 1000;

/** The store's keys, all under the hash tag `{deploys}`. */
export function deploysKeys(prefix: string): { byTime: string; data: string } {
  const base = `${prefix}:{deploys}:`;
  return { byTime: `${base}by-time`, data: `${base}data` };
}

export interface DeployQuery {
  /** Deploy time from (inclusive, ms); default: the start of the retention. */
  since?: number;
  /** Deploy time up to (inclusive, ms); default: no bound. */
  until?: number;
  /** Exact service name (case-insensitive). */
  service?: string;
  /** Exact environment (case-insensitive). */
  environment?: string;
  /** At most this many, newest first; default 100. */
  limit?: number;
}

/** What the HTTP API, the Kafka consumer and the evaluator need; RedisDeployStore is the one implementation. */
export interface DeployStore {
  /** How long markers are kept; validation refuses older ones (they would be trimmed at once). */
  readonly retentionMs: number;
  /** Stores a validated marker; a marker with the same id already stored is kept as it was and returned. */
  add(deploy: Deploy): Promise<{ deploy: Deploy; duplicate: boolean }>;
  /** Newest first. */
  list(q?: DeployQuery): Promise<Deploy[]>;
  /** Every marker with from ≤ ts ≤ to, oldest first (at most DEPLOY_BETWEEN_MAX). */
  between(from: number, to: number): Promise<Deploy[]>;
  get(id: string): Promise<Deploy | undefined>;
}

export interface RedisDeployStoreOptions {
  redis: RedisLike;
  /** Key prefix, as FW_REDIS_PREFIX. */
  prefix: string;
  /** Default 30 days. */
  retentionMs?: number;
  /** Milliseconds since the epoch; decides what is past the retention. */
  clock?: () => number;
  /** Where unreadable entries are reported (skipped, not fatal). */
  logger?: Logger;
}

/** lua/deploy-add-2.lua: trim, check for the id, store; KEYS and ARGV are documented in the file. */
const deployScripts = scriptSet(import.meta.url, { add: 'deploy-add-2.lua' });
const TRIM_PER_CALL = 500;
const PAGE = 500;

export class RedisDeployStore implements DeployStore {
  readonly keys: { byTime: string; data: string };
  readonly retentionMs: number;
  private readonly clock: () => number;
  private readonly warned = new Set<string>();

  constructor(private readonly o: RedisDeployStoreOptions) {
    this.keys = deploysKeys(o.prefix);
    this.retentionMs = o.retentionMs ?? DEPLOY_RETENTION_MS;
    if (!Number.isFinite(this.retentionMs) || this.retentionMs <= 0) {
      throw new FwError('DEPLOY_BAD_OPTIONS', `deploy retention must be a positive number of ms, got ${o.retentionMs}`);
    }
    this.clock = o.clock ?? Date.now;
    deployScripts.define(o.redis);
  }

  async add(deploy: Deploy): Promise<{ deploy: Deploy; duplicate: boolean }> {
    const cutoff = this.clock() - this.retentionMs;
    const context = `storing deploy ${deploy.id} (${deploy.service} ${deploy.version})`;
    const reply = await this.call(
      () =>
        deployScripts.run(
          this.o.redis,
          'add',
          [this.keys.byTime, this.keys.data],
          [deploy.id, deploy.ts, JSON.stringify(deploy), cutoff, TRIM_PER_CALL],
          'DEPLOY',
          context,
        ),
      context,
    );
    const [code, json] = Array.isArray(reply) ? [Number(reply[0]), String(reply[1])] : [NaN, ''];
    if (code === 1) return { deploy, duplicate: false };
    if (code === 0) {
      // The stored one is what the first sender was told; an entry unreadable by this release is replaced by nothing.
      return { deploy: parseStoredDeploy(json) ?? deploy, duplicate: true };
    }
    if (code === -1) {
      throw new FwError(
        'DEPLOY_TOO_OLD',
        `deploy ${deploy.service} ${deploy.version} at ${new Date(deploy.ts).toISOString()} is older than the ` +
          `deploy retention (${this.retentionMs} ms) and was not stored`,
      );
    }
    throw new FwError('DEPLOY_BAD_REPLY', `storing deploy ${deploy.id}: unexpected reply ${JSON.stringify(reply)}`);
  }

  async list(q: DeployQuery = {}): Promise<Deploy[]> {
    const limit = q.limit ?? DEPLOY_LIST_DEFAULT_LIMIT;
    if (limit <= 0) return [];
    const since = Math.max(q.since ?? -Infinity, this.clock() - this.retentionMs);
    const until = q.until ?? Infinity;
    if (until < since) return [];
    const service = q.service?.trim().toLowerCase();
    const environment = q.environment?.trim().toLowerCase();
    const filtered = service !== undefined || environment !== undefined;
    const out: Deploy[] = [];
    const seen = new Set<string>();
    // Without filters one page of `limit` answers; with them, pages until enough match. The offset may shift when a
    // marker is added meanwhile; `seen` drops what a shifted page shows twice.
    const page = filtered ? PAGE : Math.min(limit, PAGE);
    for (let offset = 0; out.length < limit; offset += page) {
      const ids = await this.call(
        () => this.o.redis.zrevrangebyscore(this.keys.byTime, bound(until), bound(since), 'LIMIT', offset, page),
        'listing deploys',
      );
      for (const d of await this.load(ids)) {
        if (seen.has(d.id)) continue;
        seen.add(d.id);
        if (service !== undefined && d.service.toLowerCase() !== service) continue;
        if (environment !== undefined && d.environment.toLowerCase() !== environment) continue;
        out.push(d);
        if (out.length >= limit) break;
      }
      if (ids.length < page) break;
    }
    return out;
  }

  async between(from: number, to: number): Promise<Deploy[]> {
    if (to < from) return [];
    const ids = await this.call(
      () => this.o.redis.zrangebyscore(this.keys.byTime, bound(from), bound(to), 'LIMIT', 0, DEPLOY_BETWEEN_MAX),
      'reading deploys for correlation',
    );
    if (ids.length === DEPLOY_BETWEEN_MAX) {
      this.o.logger?.warn(
        { from: new Date(from).toISOString(), to: new Date(to).toISOString(), max: DEPLOY_BETWEEN_MAX },
        'more deploy markers in the correlation window than are read; only the oldest are ranked',
      );
    }
    return this.load(ids);
  }

  async get(id: string): Promise<Deploy | undefined> {
    const json = await this.call(() => this.o.redis.hget(this.keys.data, id), `reading deploy ${id}`);
    return json === null ? undefined : this.parse(id, json);
  }

  /** The markers of `ids`, in that order; ids without a readable entry are skipped. */
  private async load(ids: string[]): Promise<Deploy[]> {
    if (ids.length === 0) return [];
    const jsons = await this.call(() => this.o.redis.hmget(this.keys.data, ...ids), `reading ${ids.length} deploys`);
    const out: Deploy[] = [];
    ids.forEach((id, i) => {
      const json = jsons[i];
      // Absent: trimmed between the two reads.
      if (json === null || json === undefined) return;
      const d = this.parse(id, json);
      if (d) out.push(d);
    });
    return out;
  }

  private parse(id: string, json: string): Deploy | undefined {
    const d = parseStoredDeploy(json);
    if (d && d.id === id) return d;
    if (!this.warned.has(id)) {
      this.warned.add(id);
      this.o.logger?.warn(
        { key: this.keys.data, field: id },
        'unreadable deploy marker skipped; it is removed when it passes the retention',
      );
    }
    return undefined;
  }

  private async call<T>(fn: () => Promise<T>, context: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      // A script's failure comes mapped (redis/failure.ts): a bug (error reply, script not defined) stays what it
      // is; a Redis that is away is DEPLOY_REDIS like every other deploy-store call.
      if (err instanceof FwError && !err.retriable) throw err;
      throw new FwError('DEPLOY_REDIS', `${context}: ${errorMessage(err)}`, { cause: err });
    }
  }
}

function bound(x: number): string {
  return x === Infinity ? '+inf' : x === -Infinity ? '-inf' : String(x);
}
