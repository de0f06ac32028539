/**
 * JSON nested 10,000 deep in a request body is the caller's mistake, not the daemon's: every JSON route of a real
 * daemon (in process, Redis, 127.0.0.1) answers 400 BAD_REQUEST saying how deep JSON may nest, never 500.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { MAX_JSON_DEPTH } from '../../../src/http/server.js';
import { redisUrl, uniquePrefix } from '../../support/env.js';

const deep = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;

describe('deeply nested JSON bodies', () => {
  it('answer 400 on every JSON route (events, NDJSON events, silences, deploys), not 500', async () => {
    const config = loadConfig({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: uniquePrefix(),
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: 'rules',
    });
    const d = new Daemon({ config, logger: pino({ level: 'silent' }) });
    onTestFinished(() => d.stop());
    await d.start();
    const post = (path: string, body: string, type = 'application/json') =>
      fetch(`${d.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
    const event = (data: string) =>
      `{"event":"checkout_started","user_id":"u1","ts":"${new Date().toISOString()}","data":${data}}`;
    const cases: [string, string, string?][] = [
      ['/v1/events', event(deep(10_000))],
      ['/v1/events', `[${event(deep(10_000))}]`],
      ['/v1/events', event(deep(10_000)), 'application/x-ndjson'],
      ['/v1/silences', `{"matchers":${deep(10_000)},"duration":"1h","createdBy":"a","comment":"b"}`],
      ['/v1/deploys', `{"service":"payments","version":${deep(10_000)}}`],
    ];
    for (const [path, body, type] of cases) {
      const r = await post(path, body, type);
      const text = await r.text();
      expect(r.status, `${path} ${type ?? ''}: ${text}`).toBe(400);
      expect(text).toContain(`nests deeper than ${MAX_JSON_DEPTH} levels`);
    }
    // Ordinary nesting still gets through to the route (which judges the content itself).
    const ok = await post('/v1/deploys', '{"service":"payments-service","version":"v1"}');
    expect(ok.status).toBeLessThan(300);
  });
});
