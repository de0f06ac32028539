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
  /** Seed nodes for ioredis `new Cluster(nodes)`. */
  nodes: { host: string; port: number }[];
  stop(): Promise<void>;
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

/** A 3-master Redis Cluster (no replicas) on loopback, created with `redis-cli --cluster create`. */
export async function startRedisCluster(masters = 3): Promise<RedisClusterHandle> {
  const started: { child: ManagedChild; port: number; dir: string }[] = [];
  const stopAll = async () => {
    await Promise.all(started.map((s) => s.child.stop()));
    for (const s of started) rmSync(s.dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      started.push(
        await spawnRedis(
          ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'],
          'redis cluster node',
        ),
      );
    }
    const addrs = started.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes']);
    // `cluster create` returns before every node agrees on the slot map; wait until each says the cluster is ok.
    const deadline = Date.now() + 15_000;
    for (const s of started) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-p', String(s.port), 'cluster', 'info']);
        if (stdout.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`redis cluster node ${s.port} not ok: ${stdout}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return { nodes: started.map((s) => ({ host: '127.0.0.1', port: s.port })), stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
