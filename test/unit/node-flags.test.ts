import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { DAEMON_NODE_FLAGS, missingNodeFlags } from '../../src/app/node-flags.js';

describe("the daemon's node flags", () => {
  it('counts a flag as given whatever its spelling or value, on the command line or in NODE_OPTIONS', () => {
    expect(missingNodeFlags([], undefined)).toEqual([...DAEMON_NODE_FLAGS]);
    expect(missingNodeFlags(['--max-semi-space-size=128'], undefined)).toEqual([]);
    expect(missingNodeFlags(['--max_semi_space_size=32'], undefined)).toEqual([]);
    expect(missingNodeFlags(['--enable-source-maps'], '--inspect  --max-semi-space-size=128')).toEqual([]);
    expect(missingNodeFlags(['--max-old-space-size=512'], '--max-old-space-size=1024')).toEqual([
      '--max-semi-space-size=128',
    ]);
  });

  it("are passed by the Docker image's ENTRYPOINT and the funnelwatch command's shebang", () => {
    const entrypoint = readFileSync('deploy/Dockerfile', 'utf8').match(/^ENTRYPOINT (\[.*\])$/m);
    expect(entrypoint).not.toBeNull();
    const argv = JSON.parse(entrypoint![1]!) as string[];
    expect(argv[0]).toBe('node');
    expect(argv.slice(1, 1 + DAEMON_NODE_FLAGS.length)).toEqual([...DAEMON_NODE_FLAGS]);
    expect(argv[1 + DAEMON_NODE_FLAGS.length]).toBe('/app/dist/main.js');
    const shebang = readFileSync('src/main.ts', 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${DAEMON_NODE_FLAGS.join(' ')}`);
  });

  it('are accepted by this node, on the command line and in NODE_OPTIONS (a misspelt flag stops node)', () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [...args, '-e', 'process.exit(0)'], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
      });
    expect(run([...DAEMON_NODE_FLAGS]).status).toBe(0);
    expect(run([], { NODE_OPTIONS: DAEMON_NODE_FLAGS.join(' ') }).status).toBe(0);
    const bad = run(['--max-semi-space-sise=64']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/bad option/);
  });
});
