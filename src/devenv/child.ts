import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { FwError } from '../core/errors.js';
import { missingToolsMessage } from './tools.js';

/** A child process we started and must stop: the dev environment (tests, demo, benchmarks) never leaves one behind. */
export interface ManagedChild {
  readonly proc: ChildProcess;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Last resort for an abrupt exit of the parent (uncaught error, process.exit): kill what is still running. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/** SIGKILLs every child still running (a shutdown past its deadline); they are gone when this returns. */
export function killAllManaged(): void {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export function spawnManaged(cmd: string, args: string[], opts: SpawnOptions = {}): ManagedChild {
  installExitHook();
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  // A program that is not installed fails with an 'error' event (ENOENT) and no 'exit': without a listener that is
  // an uncaught exception with a stack trace. waitForOutput turns it into DEVENV_MISSING_TOOL.
  proc.once('error', () => live.delete(proc));
  return {
    proc,
    stop: () => stopChild(proc),
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export function stopChild(proc: ChildProcess, graceMs = 3000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/** Resolves with the first match of `pattern` in the child's output, or rejects when it exits or times out. */
export function waitForOutput(
  proc: ChildProcess,
  stream: 'stdout' | 'stderr',
  pattern: RegExp,
  timeoutMs: number,
  what: string,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const src = proc[stream];
    if (!src) return reject(new FwError('DEVENV_NO_OUTPUT', `${what}: no ${stream} to read`));
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const m = buf.match(pattern);
      if (m) {
        cleanup();
        resolve(m);
      } else if (buf.length > 1 << 20) {
        buf = buf.slice(-4096);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new FwError('DEVENV_EXITED', `${what} exited (code ${code}) before it was ready: ${buf.slice(-2000)}`));
    };
    const onError = (err: NodeJS.ErrnoException) => {
      cleanup();
      reject(
        err.code === 'ENOENT'
          ? new FwError('DEVENV_MISSING_TOOL', missingToolsMessage([String(proc.spawnfile)]))
          : new FwError('DEVENV_EXITED', `${what} could not be started: ${err.message}`),
      );
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new FwError('DEVENV_TIMEOUT', `${what} was not ready after ${timeoutMs} ms: ${buf.slice(-2000)}`));
    }, timeoutMs);
    function cleanup() {
      clearTimeout(timer);
      src!.off('data', onData);
      proc.off('exit', onExit);
      proc.off('error', onError);
    }
    src.on('data', onData);
    proc.once('exit', onExit);
    proc.once('error', onError);
  });
}
