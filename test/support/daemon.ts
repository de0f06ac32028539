/**
 * Runs the real `funnelwatch` CLI (dist/main.js) as a child process against the test's Redis and Kafka, with its
 * own key prefix, topic and group: what production runs, including signals and exit codes. Or, where no process
 * boundary matters, the same Daemon in-process (`startInProcessDaemon`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { pino } from 'pino';
import { onTestFinished } from 'vitest';
import { Daemon } from '../../src/app/daemon.js';
import { loadConfig } from '../../src/config/config.js';
import type { Clock } from '../../src/core/clock.js';
import type { Logger } from '../../src/obs/logger.js';
import { redisUrl, uniquePrefix } from './env.js';

/**
 * A started in-process daemon on the test Redis (own key prefix), HTTP on a free loopback port, the shipped rules,
 * HTTP ingest applied directly (no Kafka), `token` required; stopped when the test ends. `env` adds or overrides;
 * `with` brings a clock (default the system's) or a logger (default silent).
 */
export async function startInProcessDaemon(
  token: string,
  env: Record<string, string> = {},
  opts: { clock?: Clock; logger?: Logger } = {},
): Promise<Daemon> {
  const d = new Daemon({
    config: loadConfig({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: uniquePrefix(),
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: 'rules',
      FW_INGEST_TOKEN: token,
      FW_INSTANCE_ID: 'test',
      ...env,
    }),
    logger: opts.logger ?? pino({ level: 'silent' }),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  onTestFinished(() => d.stop());
  await d.start();
  return d;
}

export interface DaemonChild {
  proc: ChildProcess;
  /** Everything the daemon logged so far (JSON lines). */
  output(): string;
  /** Resolves with the exit code (or the signal name) once it has exited. */
  exited: Promise<number | string>;
}

export function spawnDaemon(env: Record<string, string>, args: string[] = ['run']): DaemonChild {
  const proc = spawn(process.execPath, ['dist/main.js', ...args], {
    env: { PATH: process.env.PATH ?? '', FW_LOG_PRETTY: 'false', FW_HTTP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | string>((resolve) =>
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  onTestFinished(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  return { proc, output: () => out, exited };
}
