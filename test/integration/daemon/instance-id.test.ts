/**
 * Two daemons with one FW_INSTANCE_ID would share their ingest bookkeeping (direct HTTP ingest's stream
 * `http-<instance>` and its offsets) and lose accepted events: the id is held by a lease in Redis, and a second
 * daemon started with an id a live daemon holds refuses to start, saying why, with exit code 1. Once the first one
 * stops (releasing the lease), the id can be used again.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDaemon } from '../../support/daemon.js';
import { eventually, redisUrl, uniqueName, uniquePrefix } from '../../support/env.js';

describe('instance identity', () => {
  it('refuses to start a second daemon with an FW_INSTANCE_ID a live daemon holds', async () => {
    const rules = mkdtempSync(join(tmpdir(), 'fw-rules-'));
    onTestFinished(() => rmSync(rules, { recursive: true, force: true }));
    cpSync('rules', rules, { recursive: true });
    const env = {
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: uniquePrefix(),
      FW_RULES_DIR: rules,
      FW_HTTP_HOST: '127.0.0.1',
      FW_INSTANCE_ID: uniqueName('replica'),
    };
    const listening = (out: () => string) =>
      eventually(() => (/"http server listening"/.test(out()) ? true : undefined), 30_000, 'daemon listening');

    const first = spawnDaemon(env);
    await listening(first.output);
    await eventually(() => (/"funnelwatch running"/.test(first.output()) ? true : undefined), 30_000, 'running');

    const second = spawnDaemon(env);
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/FW_INSTANCE_ID .* is in use by a live daemon/);

    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const third = spawnDaemon(env);
    await eventually(() => (/"funnelwatch running"/.test(third.output()) ? true : undefined), 30_000, 'third runs');
    third.proc.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 120_000);
});
