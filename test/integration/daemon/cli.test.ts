import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await run(process.execPath, ['dist/main.js', ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('funnelwatch CLI', () => {
  it('lists the subcommands in --help', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const sub of ['run', 'validate', 'demo', 'config'])
      expect(r.stdout).toMatch(new RegExp(`^\\s+${sub}\\b`, 'm'));
  });

  it('prints its version', async () => {
    const r = await cli(['--version']);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('exits 2 naming FW_REDIS_URL when it is nonsense', async () => {
    const r = await cli(['run'], { FW_REDIS_URL: 'nonsense' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('FW_REDIS_URL');
    expect(r.stderr).toMatch(/redis:\/\/ or rediss:\/\/ URL/);
  });

  it('exits 2 on an unknown subcommand', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command/);
  });

  it('prints the configuration reference', async () => {
    const r = await cli(['config', '--markdown']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('| `FW_KAFKA_BROKERS` |');
  });
});
