/**
 * Runs the real `funnelwatch` CLI (dist/main.js) as a child process against the test's Redis and Kafka, with its
 * own key prefix, topic and group: what production runs, including signals and exit codes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { onTestFinished } from 'vitest';

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
