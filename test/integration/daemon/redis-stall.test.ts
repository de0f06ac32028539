/**
 * A Redis that stalls (the process paused with SIGSTOP: connected, silent) must not hang the API: requests that need
 * Redis answer 503 with Retry-After within the command timeout (FW_REDIS_COMMAND_TIMEOUT_MS, default 2 s), /readyz
 * says not ready, and when Redis answers again the daemon serves again without a restart.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { startRedisServer } from '../../../src/devenv/redis-server.js';
import { eventually, uniquePrefix } from '../../support/env.js';

/** Longer than any answer the daemon should give while Redis is paused: a request still open then is hanging. */
const HANG_MS = 10_000;

describe('a stalled Redis', () => {
  it('answers 503 with Retry-After instead of hanging, /readyz goes false, and the daemon recovers', async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const rulesDir = mkdtempSync(join(tmpdir(), 'fw-rules-'));
    cpSync('rules', rulesDir, { recursive: true });
    const config = loadConfig({
      FW_REDIS_URL: redis.url,
      FW_REDIS_PREFIX: uniquePrefix(),
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: rulesDir,
    });
    const daemon = new Daemon({ config, logger: pino({ level: 'silent' }) });
    onTestFinished(() => daemon.stop());
    await daemon.start();
    const base = daemon.httpUrl;
    await eventually(async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined), 10_000, 'ready');

    let n = 0;
    const post = () => {
      n++;
      const event = { id: `stall-${n}`, type: 'checkout_started', ts: Date.now(), entity: `e${n}` };
      return fetch(`${base}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([event]),
        signal: AbortSignal.timeout(HANG_MS),
      });
    };
    expect((await post()).status).toBe(200);

    process.kill(redis.pid(), 'SIGSTOP');
    try {
      // Answered, not waited out: an abort after HANG_MS fails the test here.
      const stalled = await post();
      expect(stalled.status).toBe(503);
      expect(Number(stalled.headers.get('retry-after'))).toBeGreaterThan(0);
      const ready = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(HANG_MS) });
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { checks: Record<string, { ok: boolean }> };
      expect(body.checks.redis?.ok).toBe(false);
    } finally {
      // The hooks (daemon.stop, redis.stop) need a Redis that answers.
      process.kill(redis.pid(), 'SIGCONT');
    }
    await eventually(async () => ((await post()).status === 200 ? true : undefined), 20_000, 'ingest serving again');
    await eventually(async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined), 20_000, 'ready');
  }, 90_000);
});
