/**
 * Starts real `redis-server` processes on loopback for tests, the demo and benchmarks: each on a free port with its
 * own temporary directory, no persistence, stopped (and the directory removed) by `stop()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import { spawnManaged, waitForOutput, type ManagedChild } from './child.js';

const run = promisify(execFile);

/** Data directories of servers still running: removed at exit too (a demo killed past its shutdown deadline). */
const liveDirs = new Set<string>();
let exitHookInstalled = false;
function removeAtExit(dir: string): void {
  liveDirs.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

export interface RedisServerHandle {
  url: string;
  port: number;
  stop(): Promise<void>;
  /**
   * Starts the server again on the same port and data directory (an outage, then recovery). A `persistent` server
   * comes back with its data; any other comes back empty, as a Redis restarted without persistence does.
   */
  restart(): Promise<void>;
  /** The process id of the running server (to pause it with SIGSTOP, as a stalled Redis). */
  pid(): number;
}

export interface RedisServerOptions {
  /** Append-only file with fsync on every write, so a stop and restart loses nothing. */
  persistent?: boolean;
}

export interface RedisClusterHandle {
  /** Seed nodes for ioredis `new Cluster(nodes)`: every node, primaries and replicas. */
  nodes: { host: string; port: number }[];
  stop(): Promise<void>;
  /**
   * Fails over the primary that holds `key`'s slot to its replica (needs `replicas` ≥ 1) and resolves once every
   * live node agrees on the new primary: `graceful` is `CLUSTER FAILOVER` on the replica (the primary stops writes,
   * the replica catches up, then takes over: nothing acknowledged is lost); `kill` SIGKILLs the primary and waits for
   * the cluster to promote the replica after the node timeout (writes not yet replicated may be lost, as in
   * production). A killed node stays down. Returns the port of the new primary.
   */
  failover(key: string, mode: 'graceful' | 'kill'): Promise<number>;
  /** Kills the primary holding `key`'s slot right away (SIGKILL) and returns without waiting for the takeover. */
  killPrimaryOf(key: string): Promise<number>;
  /** Resolves once the replica that took `key`'s slot over is primary on every live node. */
  awaitTakeover(key: string, oldPrimaryPort: number): Promise<number>;
}

export interface RedisClusterOptions {
  /** Replicas per primary (each primary's slots survive its death). Default 0. */
  replicas?: number;
  /** cluster-node-timeout: how long a primary may be unreachable before its replica takes over. Default 5000. */
  nodeTimeoutMs?: number;
}

async function spawnRedis(
  extraArgs: string[],
  label: string,
  fixed?: { port: number; dir: string },
): Promise<{ child: ManagedChild; port: number; dir: string }> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = fixed?.port ?? (await freePort());
    const dir = fixed?.dir ?? mkdtempSync(join(tmpdir(), 'fw-redis-'));
    const child = spawnManaged('redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--daemonize',
      'no',
      ...extraArgs,
    ]);
    try {
      await waitForOutput(child.proc, 'stdout', /Ready to accept connections/, 10_000, `${label} on port ${port}`);
      return { child, port, dir };
    } catch (err) {
      lastErr = err;
      await child.stop();
      if (!fixed) rmSync(dir, { recursive: true, force: true });
    }
  }
  throw lastErr;
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServerHandle> {
  // Later arguments win over the defaults in spawnRedis.
  const args = opts.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : [];
  let cur = await spawnRedis(args, 'redis-server');
  const { port, dir } = cur;
  if (!opts.persistent) removeAtExit(dir);
  let running = true;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await cur.child.stop();
      running = false;
      if (!opts.persistent) {
        rmSync(dir, { recursive: true, force: true });
        liveDirs.delete(dir);
      }
    },
    restart: async () => {
      if (running) await cur.child.stop();
      cur = await spawnRedis(args, 'redis-server (restarted)', { port, dir });
      running = true;
    },
    pid: () => {
      if (!running || cur.child.proc.pid === undefined) throw new Error('redis-server is not running');
      return cur.child.proc.pid;
    },
  };
}

/**
 * A Redis Cluster on loopback (default 3 primaries, no replicas), created with `redis-cli --cluster create`; with
 * `replicas`, each primary gets that many replicas, so a primary can fail over (handle.failover).
 */
export async function startRedisCluster(masters = 3, opts: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const replicas = opts.replicas ?? 0;
  const started: { child: ManagedChild; port: number; dir: string }[] = [];
  const stopAll = async () => {
    await Promise.all(started.map((s) => s.child.stop()));
    for (const s of started) rmSync(s.dir, { recursive: true, force: true });
  };
  const cli = async (port: number, ...args: string[]) =>
    (await run('redis-cli', ['-p', String(port), ...args])).stdout.trim();
  const dead = new Set<number>();
  const live = () => started.filter((s) => !dead.has(s.port));
  /** The port of the primary serving `key`'s slot, as node `port` sees it (undefined: no primary known). */
  const primaryOf = async (port: number, key: string): Promise<number | undefined> => {
    const slot = Number(await cli(port, 'cluster', 'keyslot', key));
    for (const line of (await cli(port, 'cluster', 'nodes')).split('\n')) {
      const f = line.split(' ');
      if (!f[2]?.split(',').includes('master') || f[2].includes('fail')) continue;
      const owns = f.slice(8).some((r) => {
        const [lo, hi] = r.split('-').map(Number);
        return slot >= lo! && slot <= (hi ?? lo!);
      });
      if (owns) return Number(/:(\d+)@/.exec(f[1]!)?.[1]);
    }
    return undefined;
  };
  const replicaOf = async (primaryPort: number): Promise<number> => {
    const nodes = (await cli(primaryPort, 'cluster', 'nodes')).split('\n').map((l) => l.split(' '));
    const id = nodes.find((f) => f[2]?.includes('myself'))![0]!;
    const replica = nodes.find((f) => f[3] === id && !f[2]!.includes('fail'));
    if (!replica) throw new Error(`redis cluster: primary ${primaryPort} has no live replica`);
    return Number(/:(\d+)@/.exec(replica[1]!)?.[1]);
  };
  const awaitTakeover = async (key: string, oldPrimary: number): Promise<number> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const seen = new Set<number | undefined>();
      let ok = true;
      for (const s of live()) {
        seen.add(await primaryOf(s.port, key));
        ok &&= (await cli(s.port, 'cluster', 'info')).includes('cluster_state:ok');
      }
      const [p] = [...seen];
      if (ok && seen.size === 1 && p !== undefined && p !== oldPrimary) return p;
      if (Date.now() > deadline) throw new Error(`redis cluster: no takeover of ${key}'s slot from ${oldPrimary}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const killPrimaryOf = async (key: string): Promise<number> => {
    const primary = await primaryOf(live()[0]!.port, key);
    const node = started.find((s) => s.port === primary);
    if (!node) throw new Error(`redis cluster: no primary known for ${key}`);
    dead.add(node.port);
    node.child.proc.kill('SIGKILL');
    return node.port;
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      started.push(
        await spawnRedis(
          [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            String(opts.nodeTimeoutMs ?? 5000),
          ],
          'redis cluster node',
        ),
      );
    }
    const addrs = started.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', String(replicas), '--cluster-yes']);
    // `cluster create` returns before every node agrees on the slot map (and before replicas have synced); wait
    // until each says the cluster is ok and every replica's link to its primary is up.
    const deadline = Date.now() + 30_000;
    for (const s of started) {
      for (;;) {
        const info = await cli(s.port, 'cluster', 'info');
        const repl = await cli(s.port, 'info', 'replication');
        const synced = !repl.includes('role:slave') || repl.includes('master_link_status:up');
        if (info.includes('cluster_state:ok') && synced) break;
        if (Date.now() > deadline) throw new Error(`redis cluster node ${s.port} not ok: ${info}\n${repl}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return {
      nodes: started.map((s) => ({ host: '127.0.0.1', port: s.port })),
      stop: stopAll,
      killPrimaryOf,
      awaitTakeover,
      failover: async (key, mode) => {
        const primary = await primaryOf(live()[0]!.port, key);
        if (primary === undefined) throw new Error(`redis cluster: no primary known for ${key}`);
        const replica = await replicaOf(primary); // throws when there is none: the slot would stay down
        if (mode === 'kill') {
          await killPrimaryOf(key);
        } else {
          const answer = await cli(replica, 'cluster', 'failover');
          if (answer !== 'OK') throw new Error(`redis cluster: CLUSTER FAILOVER answered ${answer}`);
        }
        return awaitTakeover(key, primary);
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
