import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { redisUrl, uniquePrefix, eventually } from '../../support/env.js';
import { spawnDaemon } from '../../support/daemon.js';

const run = promisify(execFile);

/** Runs the CLI; a command still running after `timeoutMs` is killed and answers code null. */
async function cli(args: string[], env: Record<string, string> = {}, timeoutMs = 0) {
  try {
    const r = await run(process.execPath, ['dist/main.js', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: timeoutMs,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number | null; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The address the daemon logged at start, once it has. */
async function listeningUrl(output: () => string): Promise<string> {
  return eventually(() => {
    const m = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"http server listening"/.exec(output());
    if (!m) throw new Error(`daemon not listening yet:\n${output()}`);
    return m[1]!;
  });
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

  it('config hides every secret: the token, and the password of any URL', async () => {
    const env = {
      FW_INGEST_TOKEN: 'tok-s3cret-4711',
      FW_REDIS_URL: 'redis://fw:hunter2pass@127.0.0.1:6379/0',
      FW_SLACK_API_URL: 'https://proxyuser:slackproxypw@proxy.example.com/api/',
    };
    const r = await cli(['config'], env);
    expect(r.code).toBe(0);
    for (const secret of ['tok-s3cret-4711', 'hunter2pass', 'slackproxypw']) expect(r.stdout).not.toContain(secret);
    const shown = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(shown.FW_INGEST_TOKEN).toBe('(hidden)');
    expect(shown.FW_REDIS_URL).toBe('redis://fw:(hidden)@127.0.0.1:6379/0');
    expect(shown.FW_SLACK_API_URL).toBe('https://proxyuser:(hidden)@proxy.example.com/api/');
    // An empty token shows as empty: the operator sees that none is set.
    expect(JSON.parse((await cli(['config'])).stdout)).toMatchObject({ FW_INGEST_TOKEN: '' });
    // Nor does a refused value give a password away.
    const bad = await cli(['config'], { FW_REDIS_URL: 'http://fw:hunter2pass@127.0.0.1:6379' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('FW_REDIS_URL');
    expect(bad.stderr).not.toContain('hunter2pass');
  });
});

describe('closed by default: the API is not served to the network without a token', () => {
  const base = () => ({ FW_REDIS_URL: redisUrl(), FW_REDIS_PREFIX: uniquePrefix(), FW_RULES_DIR: 'rules' });

  it('run exits 2 naming FW_INGEST_TOKEN and FW_AUTH on a non-loopback address without a token', async () => {
    for (const host of ['0.0.0.0', '::', '10.1.2.3']) {
      const r = await cli(['run'], { ...base(), FW_HTTP_HOST: host, FW_HTTP_PORT: '0' }, 20_000);
      expect({ host, code: r.code }).toEqual({ host, code: 2 });
      expect(r.stderr).toContain('FW_INGEST_TOKEN');
      expect(r.stderr).toContain('FW_AUTH=none');
      expect(r.stderr).toContain(host);
    }
    // FW_AUTH=none together with a token is a contradiction, refused too.
    const both = await cli(['run'], { ...base(), FW_AUTH: 'none', FW_INGEST_TOKEN: 't', FW_HTTP_PORT: '0' }, 20_000);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/FW_AUTH=none.*FW_INGEST_TOKEN/);
  });

  it('by default serves on loopback only, and without a token', async () => {
    const d = spawnDaemon(base());
    const url = await listeningUrl(d.output);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await fetch(`${url}/v1/alerts`);
    expect(r.status).toBe(200);
    d.proc.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it('with FW_AUTH=none serves without a token on any address, and warns at start and on /readyz', async () => {
    const d = spawnDaemon({ ...base(), FW_HTTP_HOST: '0.0.0.0', FW_AUTH: 'none' });
    const url = (await listeningUrl(d.output)).replace('0.0.0.0', '127.0.0.1');
    await eventually(() => (/"level":"warn"[^\n]*FW_AUTH=none/.test(d.output()) ? true : undefined));
    const ready = await eventually(async () => {
      const r = await fetch(`${url}/readyz`);
      const body = (await r.json()) as { checks: Record<string, { ok: boolean; warning?: string }> };
      if (!body.checks.auth) throw new Error(`no auth check yet: ${JSON.stringify(body)}`);
      return body;
    });
    expect(ready.checks.auth).toEqual({ ok: true, warning: expect.stringMatching(/FW_AUTH=none/) });
    expect((await fetch(`${url}/v1/alerts`)).status).toBe(200);
    d.proc.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });
});
