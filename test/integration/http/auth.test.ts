/**
 * The API's bearer token on a real daemon (in-process, real Redis, 127.0.0.1): every API route refuses a request
 * without the right token in onRequest, before a byte of its body is read, so an unauthenticated caller cannot make
 * the daemon buffer and parse megabytes. Checked with a raw http.request that announces a large body, sends only a
 * little of it, and waits for the answer.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { request } from 'node:http';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { ConfigError, loadConfig } from '../../../src/config/config.js';
import { redisUrl, uniquePrefix } from '../../support/env.js';

const TOKEN = 'auth-test-s3cret-token';

async function startDaemon(env: Record<string, string> = {}): Promise<Daemon> {
  const rulesDir = mkdtempSync(join(tmpdir(), 'fw-rules-'));
  cpSync('rules', rulesDir, { recursive: true });
  const daemon = new Daemon({
    config: loadConfig({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: uniquePrefix(),
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: rulesDir,
      FW_INGEST_TOKEN: TOKEN,
      ...env,
    }),
    logger: pino({ level: 'silent' }),
  });
  onTestFinished(() => daemon.stop());
  await daemon.start();
  return daemon;
}

interface EarlyAnswer {
  status: number;
  body: string;
  /** Body bytes the client had sent when the answer arrived. */
  sentBytes: number;
}

/**
 * Sends the headers of a request announcing `announced` body bytes, then only a first chunk, and waits (at most
 * `waitMs`) for the answer without sending the rest. A server that reads the body before checking the token never
 * answers: the wait ends in a failure that says so.
 */
function answerBeforeBody(
  base: string,
  path: string,
  auth: string | null,
  announced = 4_000_000,
  waitMs = 5_000,
): Promise<EarlyAnswer> {
  const url = new URL(path, base);
  const first = Buffer.from(`[${'{"type":"checkout_started","entity":"e"},'.repeat(30)}`);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': announced,
    };
    if (auth !== null) headers.authorization = auth;
    const req = request(url, { method: 'POST', headers, agent: false });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to POST ${path} within ${waitMs} ms while its body was incomplete`));
    }, waitMs);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      const done = () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body, sentBytes: first.length });
        req.destroy();
      };
      res.on('end', done);
      res.on('error', done);
      res.on('close', done);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.flushHeaders();
    req.write(first);
  });
}

describe('the API token is checked before any body is read', () => {
  it('answers 401 on every write route to a request announcing a large body, before the body is sent', async () => {
    const daemon = await startDaemon();
    for (const path of ['/v1/events', '/v1/silences', '/v1/deploys']) {
      for (const auth of [null, 'Bearer not-the-token', `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`]) {
        const a = await answerBeforeBody(daemon.httpUrl, path, auth);
        expect({ path, auth, status: a.status }).toEqual({ path, auth, status: 401 });
        expect(JSON.parse(a.body)).toMatchObject({ error: 'UNAUTHORIZED' });
      }
    }
    const alerts = await fetch(`${daemon.httpUrl}/v1/alerts`);
    expect(alerts.status).toBe(401);
    // The right token gets past onRequest to the body limit, the parser and the route.
    const ok = await fetch(`${daemon.httpUrl}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify([{ type: 'checkout_started', entity: 'e1', ts: new Date().toISOString() }]),
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ accepted: 1 });
  });
});

describe('closed by default, in-process too', () => {
  it('a Daemon built to serve the API beyond loopback without a token refuses to be built', () => {
    const config = loadConfig({ FW_REDIS_URL: redisUrl(), FW_HTTP_PORT: '0', FW_HTTP_HOST: '0.0.0.0' });
    expect(() => new Daemon({ config, logger: pino({ level: 'silent' }) })).toThrow(ConfigError);
    expect(() => new Daemon({ config, logger: pino({ level: 'silent' }) })).toThrow(/FW_INGEST_TOKEN.*FW_AUTH=none/s);
  });
});
