import { describe, it, expect, onTestFinished } from 'vitest';
import { mkdtempSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { startRedisServer } from '../../../src/devenv/redis-server.js';
import { uniquePrefix, eventually } from '../../support/env.js';

async function get(url: string) {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

describe('health endpoints of a running daemon', () => {
  it('answers /healthz and /metrics, and /readyz goes 503 naming Redis when Redis stops', async () => {
    // A Redis of its own: this test stops it.
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
    // Silent except for the stop steps that take longer than 5 s: once in CI this daemon's stop() outlasted the
    // 60 s hook timeout with Redis down, and those lines name the step that hangs.
    const stopSteps = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n'))
          if (line.includes('"step"')) process.stderr.write(`readyz daemon: ${line}\n`);
        cb();
      },
    });
    const daemon = new Daemon({ config, logger: pino({ level: 'warn' }, stopSteps) });
    onTestFinished(() => daemon.stop());
    await daemon.start();
    const base = daemon.httpUrl;

    expect((await get(`${base}/healthz`)).status).toBe(200);
    const ready = await eventually(
      async () => {
        const r = await get(`${base}/readyz`);
        return r.status === 200 ? r : undefined;
      },
      10_000,
      '/readyz 200',
    );
    expect(ready.body).toMatchObject({ status: 'ready', checks: { redis: { ok: true }, rules: { ok: true } } });

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^# TYPE fw_events_consumed_total counter$/m);
    expect(metrics).toMatch(/^fw_process_resident_memory_bytes \d+/m);

    await redis.stop();
    const down = await eventually(
      async () => {
        const r = await get(`${base}/readyz`);
        return r.status === 503 ? r : undefined;
      },
      10_000,
      '/readyz 503',
    );
    expect(down.body.status).toBe('not ready');
    const checks = down.body.checks as Record<string, { ok: boolean; reason?: string }>;
    expect(checks.redis!.ok).toBe(false);
    expect(checks.redis!.reason).toMatch(/redis/i);
    expect(checks.rules!.ok).toBe(true);
    // Liveness is not readiness: the process is alive and says so.
    expect((await get(`${base}/healthz`)).status).toBe(200);
  });

  it('answers 404 with a JSON error for unknown routes', async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const dir = mkdtempSync(join(tmpdir(), 'fw-rules-'));
    cpSync('rules', dir, { recursive: true });
    writeFileSync(join(dir, 'README.txt'), 'not a rule file');
    const daemon = new Daemon({
      config: loadConfig({ FW_REDIS_URL: redis.url, FW_HTTP_PORT: '0', FW_HTTP_HOST: '127.0.0.1', FW_RULES_DIR: dir }),
      logger: pino({ level: 'silent' }),
    });
    onTestFinished(() => daemon.stop());
    await daemon.start();
    const r = await get(`${daemon.httpUrl}/nope`);
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ error: 'NOT_FOUND' });
  });
});
