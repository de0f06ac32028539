/**
 * The one place a Redis client is made: the daemon, replay, backtest and every CLI command that opens Redis call
 * `createRedisClient`, standalone or Redis Cluster (FW_REDIS_CLUSTER) from FW_REDIS_URL.
 *
 * Commands fail fast while Redis is away, so a caller holds its work and retries instead of hanging, and /readyz
 * says why:
 * - standalone: a command issued while disconnected waits in ioredis' offline queue for at most one reconnection
 *   attempt (maxRetriesPerRequest), then fails; ioredis keeps reconnecting with capped backoff on its own.
 * - Cluster: ioredis' cluster offline queue has no bound (a command would wait for as long as the whole cluster is
 *   away), so it is off: a command issued while the cluster is not ready fails at once, and the cluster client keeps
 *   reconnecting with the same capped backoff. Redirections are bounded: MOVED, ASK, TRYAGAIN and CLUSTERDOWN all
 *   count against maxRedirections, after which the command fails with "Too many Cluster redirections" (retriable,
 *   see scripts.ts' `redisFailure`) instead of looping while slots move.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { backoffMs, type BackoffPolicy } from '../core/backoff.js';
import { FwError } from '../core/errors.js';
import type { Logger } from '../obs/logger.js';

export type RedisLike = Redis | Cluster;

export interface RedisNode {
  host: string;
  port: number;
}

/** FW_REDIS_URL read for a Cluster: the seed nodes, and the connection settings every node shares. */
export interface ClusterTarget {
  nodes: RedisNode[];
  username?: string;
  password?: string;
  tls: boolean;
}

export interface RedisClientOptions {
  /** One redis:// or rediss:// URL; with `cluster`, any node of the cluster or a comma-separated list of nodes. */
  url: string;
  cluster?: boolean;
  /** When given, a lost connection is logged once per outage and its end once. */
  logger?: Logger;
  /** How many reconnection attempts a command issued while disconnected waits for (standalone). Default 1. */
  maxRetriesPerRequest?: number;
  /** Named in error messages about the URL. Default FW_REDIS_URL. */
  variable?: string;
  /** A command not answered within this many ms is rejected ("Command timed out"). Default: no limit. */
  commandTimeoutMs?: number;
}

/** Bound on redirections (MOVED/ASK) and busy-cluster retries (TRYAGAIN/CLUSTERDOWN) of one command. */
export const CLUSTER_MAX_REDIRECTIONS = 16;

/** Reconnection delays (ioredis counts attempts from 1): 100 ms doubling to 5 s, equal jitter so replicas spread. */
const RECONNECT: BackoffPolicy = { baseMs: 100, capMs: 5_000, jitter: 'equal' };
const backoff = (times: number): number => backoffMs(times - 1, RECONNECT, Math.random);

/** Splits and checks FW_REDIS_URL: each entry a redis:// or rediss:// URL with a host. */
export function parseRedisUrls(value: string, variable = 'FW_REDIS_URL'): URL[] {
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new FwError('REDIS_BAD_URL', `${variable} is empty; expected a redis:// URL`);
  return entries.map((s) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new FwError('REDIS_BAD_URL', `${variable}: "${s}" is not a URL; expected e.g. redis://127.0.0.1:6379`);
    }
    if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || u.hostname === '') {
      throw new FwError('REDIS_BAD_URL', `${variable}: "${s}" is not a redis:// or rediss:// URL with a host`);
    }
    return u;
  });
}

/**
 * FW_REDIS_URL as Cluster seed nodes. Credentials and TLS come from the URLs and must agree across them (one
 * cluster has one password); a database number is refused, since a Cluster has only database 0.
 */
export function parseClusterTarget(value: string, variable = 'FW_REDIS_URL'): ClusterTarget {
  const urls = parseRedisUrls(value, variable);
  const first = urls[0]!;
  const auth = (u: URL) => `${u.protocol}${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  for (const u of urls) {
    const db = u.pathname.replace(/^\//, '');
    if (db !== '' && db !== '0') {
      throw new FwError(
        'REDIS_BAD_URL',
        `${variable}: "${u.host}" names database ${db}, but a Redis Cluster has ` +
          'only database 0; remove the path from the URL',
      );
    }
    if (auth(u) !== auth(first)) {
      throw new FwError(
        'REDIS_BAD_URL',
        `${variable}: the cluster node URLs disagree on the scheme or credentials ` +
          `(${first.host} and ${u.host}); give every node the same`,
      );
    }
  }
  return {
    // IPv6 hosts come bracketed from URL; ioredis wants them bare.
    nodes: urls.map((u) => ({ host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 6379) })),
    ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    tls: first.protocol === 'rediss:',
  };
}

/** Makes the client (not connected yet: `connect()` it, or its first command does). */
export function createRedisClient(o: RedisClientOptions): RedisLike {
  const variable = o.variable ?? 'FW_REDIS_URL';
  const maxRetriesPerRequest = o.maxRetriesPerRequest ?? 1;
  let client: RedisLike;
  if (o.cluster) {
    const t = parseClusterTarget(o.url, variable);
    const redisOptions: RedisOptions = {
      maxRetriesPerRequest,
      connectTimeout: 5_000,
      ...(o.commandTimeoutMs ? { commandTimeout: o.commandTimeoutMs } : {}),
      ...(t.username ? { username: t.username } : {}),
      ...(t.password ? { password: t.password } : {}),
      ...(t.tls ? { tls: {} } : {}),
    };
    const options: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRedirections: CLUSTER_MAX_REDIRECTIONS,
      retryDelayOnMoved: 0,
      retryDelayOnTryAgain: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnFailover: 100,
      clusterRetryStrategy: backoff,
      redisOptions,
    };
    client = new Cluster(t.nodes, options);
  } else {
    const urls = parseRedisUrls(o.url, variable);
    if (urls.length > 1) {
      throw new FwError(
        'REDIS_BAD_URL',
        `${variable} names ${urls.length} nodes; a node list needs ` + 'FW_REDIS_CLUSTER=true',
      );
    }
    client = new Redis(o.url.trim(), {
      lazyConnect: true,
      maxRetriesPerRequest,
      enableOfflineQueue: true,
      connectTimeout: 5_000,
      retryStrategy: backoff,
      ...(o.commandTimeoutMs ? { commandTimeout: o.commandTimeoutMs } : {}),
    });
  }
  if (o.logger) logOutages(client, o.logger.child({ component: 'redis' }));
  return client;
}

/**
 * A second connection for blocking reads (XREADGROUP … BLOCK): the client's command timeout counts from sending,
 * so a read allowed to block `blockMs` gets that much more time than other commands; otherwise the same options.
 */
export function duplicateForBlocking(redis: RedisLike, blockMs: number): RedisLike {
  if (redis instanceof Cluster) {
    const ro = redis.options.redisOptions ?? {};
    const t = ro.commandTimeout;
    return redis.duplicate([], t === undefined ? {} : { redisOptions: { ...ro, commandTimeout: t + blockMs } });
  }
  const t = redis.options.commandTimeout;
  return redis.duplicate(t === undefined ? {} : { commandTimeout: t + blockMs });
}

function logOutages(client: RedisLike, log: Logger): void {
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) log.error({ err: err.message }, 'redis connection error');
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info('redis connection restored');
    down = false;
  });
}

/** A readiness check (the shape http/readiness.ts expects): ready and answering PING, standalone or Cluster. */
export function redisReadiness(redis: RedisLike): { name: string; check: () => Promise<string | null> } {
  return {
    name: 'redis',
    check: async () => {
      if (redis.status !== 'ready') return `redis is ${redis.status} (not reachable)`;
      if (redis instanceof Cluster) {
        // Every primary must answer: a cluster missing one serves only part of the keys.
        const masters = redis.nodes('master');
        if (masters.length === 0) return 'redis cluster has no known primaries';
        for (const node of masters) {
          const pong = await node.ping();
          if (pong !== 'PONG') return `redis node ${node.options.host}:${node.options.port} answered ${pong} to PING`;
        }
        return null;
      }
      const pong = await redis.ping();
      return pong === 'PONG' ? null : `redis answered ${pong} to PING`;
    },
  };
}

/**
 * Every key matching `pattern`, page by page: SCAN runs per node, so on a Cluster it runs on every primary (each
 * holds only its own slots). `visit` gets each page with the client that holds it.
 */
export async function scanKeys(
  redis: RedisLike,
  pattern: string,
  visit: (node: Redis, keys: string[]) => Promise<void>,
): Promise<void> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await visit(node, keys);
    } while (cursor !== '0');
  }
}

/** Deletes every key under `prefix:` (hash-tagged ones included) on every node; returns how many. */
export async function deleteByPrefix(redis: RedisLike, prefix: string): Promise<number> {
  let n = 0;
  await scanKeys(redis, `${prefix}:*`, async (node, keys) => {
    if (redis instanceof Cluster) {
      // The keys of one page lie in many slots, and a multi-key UNLINK must stay in one: one UNLINK each.
      const pipe = node.pipeline();
      for (const k of keys) pipe.unlink(k);
      for (const [err, count] of (await pipe.exec()) ?? []) {
        if (err) throw err;
        n += Number(count);
      }
    } else {
      n += await node.unlink(...keys);
    }
  });
  return n;
}
