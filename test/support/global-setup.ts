/**
 * Starts the real components every integration test talks to, on loopback and free ports, and stops them at the
 * end: a redis-server, a 3-node Redis Cluster and a 3-broker Kafka-protocol cluster (kcat's librdkafka mock).
 */
import type { TestProject } from 'vitest/node';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startRedisServer, startRedisCluster } from '../../src/devenv/redis-server.js';
import { startMockKafka } from '../../src/devenv/mock-kafka.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisClusterNodes: { host: string; port: number }[];
    kafkaBrokers: string[];
  }
}

/** Newest modification time of any file under `dir`. */
function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    t = Math.max(t, st.isDirectory() ? newest(p) : st.mtimeMs);
  }
  return t;
}

/** Tests that spawn the real CLI run dist/; rebuild it when src/ changed since (npm test's setup builds too). */
function ensureBuilt(): void {
  if (existsSync('dist/main.js') && statSync('dist/main.js').mtimeMs >= newest('src')) return;
  try {
    execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'pipe' });
  } catch (err) {
    // Only the tests that spawn the CLI need dist/; they fail with this reason, the rest still run.
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    process.stderr.write(
      `global-setup: build failed; tests that run dist/main.js will fail:\n` +
        `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}\n`,
    );
  }
}

export default async function setup(project: TestProject) {
  ensureBuilt();
  const [redis, cluster, kafka] = await Promise.all([startRedisServer(), startRedisCluster(3), startMockKafka(3)]);
  project.provide('redisUrl', redis.url);
  project.provide('redisClusterNodes', cluster.nodes);
  project.provide('kafkaBrokers', kafka.brokers);
  return async () => {
    await Promise.all([redis.stop(), cluster.stop(), kafka.stop()]);
  };
}
