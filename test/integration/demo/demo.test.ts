/**
 * The demo as a new user runs it (dist/main.js demo), at reduced scale: a smaller shop on a clock 40× the wall
 * clock, so its story (deploy, stripe failure, page, rollback, resolve) takes about half a minute. It must check
 * its own story and exit 0; SIGTERM must stop every child it started (redis-server, kcat) and leave none behind;
 * without redis-server or kcat it says so in one sentence.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { spawnManaged, waitForOutput } from '../../../src/devenv/child.js';
import { missingTools } from '../../../src/devenv/tools.js';
import { FwError } from '../../../src/core/errors.js';
import { spawnDaemon } from '../../support/daemon.js';
import { eventually } from '../../support/env.js';

/** Every process below `pid` (children, their children …), from /proc. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(name), ppid);
    } catch {
      /* gone meanwhile */
    }
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '); // a zombie is gone but not yet reaped
  } catch {
    return false;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '(gone)';
  }
}

const REDUCED = ['demo', '--rate', '400', '--speed', '40'];

describe('funnelwatch demo', () => {
  it('checks its own story at reduced scale and exits 0', { timeout: 150_000 }, async () => {
    const seed = String(1 + Math.floor(Math.random() * 10_000));
    const demo = spawnDaemon({}, [...REDUCED, '--check', '--seed', seed]);
    const code = await demo.exited;
    const out = demo.output();
    expect(code, `seed ${seed}:\n${out.slice(-4000)}`).toBe(0);
    expect(out).toContain(`simulated shop (seed ${seed})`);
    expect(out).toMatch(/FIRING {2}checkout-payment-success-drop \[payment_provider=stripe\]/);
    expect(out).toMatch(/likely cause: payments-service 2\.4\.0 \(production\)/);
    // The incident's resolve is headed by its worst member: the stripe alert or the funnel-wide one.
    expect(out).toMatch(/RESOLVED checkout-payment-success-drop( \[payment_provider=stripe\])? /);
    expect(out).toMatch(
      /the story is complete and checked: 1 incident \(\d alerts? of checkout-payment-success-drop\) paged \d receivers? once each, naming payments-service 2\.4\.0 first and payment_provider=stripe/,
    );
    expect(out).toContain('demo stopped; nothing left running.');
  });

  // 8 s: the graceful stop; 1 ms: the deadline passes at once, and what still runs is killed.
  it.each([
    ['8000', 'demo stopped; nothing left running.'],
    ['1', 'stopping took longer than 1 ms (FW_SHUTDOWN_TIMEOUT_MS): killing what is left'],
  ])(
    'SIGTERM with FW_SHUTDOWN_TIMEOUT_MS=%s stops the daemon, kcat and redis-server and leaves nothing behind',
    { timeout: 90_000 },
    async (timeoutMs, said) => {
      const demo = spawnDaemon({ FW_SHUTDOWN_TIMEOUT_MS: timeoutMs }, [...REDUCED, '--seed', '7']);
      const pid = demo.proc.pid!;
      // Mid-way through the history: the broker, Redis and the Kafka clients are all busy.
      await eventually(() => (/history … \. \./.test(demo.output()) ? true : undefined), 60_000, 'history playing');
      const children = descendants(pid);
      const commands = children.map(commandOf);
      expect(
        commands.some((c) => c.startsWith('kcat')),
        commands.join('\n'),
      ).toBe(true);
      expect(
        commands.some((c) => c.startsWith('redis-server')),
        commands.join('\n'),
      ).toBe(true);
      const redisPid = children.find((p) => commandOf(p).startsWith('redis-server'))!;
      const redisDir = readlinkSync(`/proc/${redisPid}/cwd`);
      expect(redisDir).toMatch(/fw-redis-/);
      demo.proc.kill('SIGTERM');
      // The demo's own deadline (FW_SHUTDOWN_TIMEOUT_MS) bounds the stop; this only waits for it.
      expect(await demo.exited, demo.output().slice(-2000)).toBe(143);
      expect(demo.output()).toContain(said);
      // redis-server's data directory (its working directory) goes with it.
      expect(existsSync(redisDir)).toBe(false);
      const left = await eventually(
        () => (children.some(alive) ? undefined : []),
        5_000,
        'the children to be gone',
      ).catch(() => children.filter(alive));
      expect(left.map((p) => `${p}: ${commandOf(p)}`)).toEqual([]);
    },
  );

  it('without redis-server and kcat it says so in one sentence naming npm run setup', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'fw-no-tools-'));
    const demo = spawnDaemon({ PATH: empty }, ['demo']);
    expect(await demo.exited).toBe(1);
    const out = demo.output().trim();
    expect(out.split('\n'), out).toHaveLength(1);
    expect(out).toBe(
      'funnelwatch demo: redis-server and kcat are not installed (not on PATH): run `npm run setup`, which installs ' +
        'redis-server and kcat with apt-get (as root) or prints the exact apt-get line.',
    );
    expect(out).not.toMatch(/ENOENT|\n\s+at /);
  });
});

describe('dev environment children', () => {
  it('a program that is not installed rejects with DEVENV_MISSING_TOOL instead of crashing the process', async () => {
    const child = spawnManaged('fw-no-such-program-4711', []);
    const err = await waitForOutput(child.proc, 'stdout', /ready/, 5_000, 'nothing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FwError);
    expect((err as FwError).code).toBe('DEVENV_MISSING_TOOL');
    expect((err as FwError).message).toMatch(/^fw-no-such-program-4711 is not installed .*npm run setup/);
  });

  it('missingTools looks through PATH for executables', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-tools-'));
    writeFileSync(join(dir, 'kcat'), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(dir, 'redis-server'), 'not executable', { mode: 0o644 });
    expect(missingTools(['redis-server', 'kcat'], `/nonexistent${delimiter}${dir}`)).toEqual(['redis-server']);
    expect(missingTools(['kcat'], '')).toEqual(['kcat']);
  });
});
