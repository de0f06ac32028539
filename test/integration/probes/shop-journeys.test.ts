/**
 * The journeys committed under probes/ against the demo shop served over HTTP (the real files, their `local` base
 * URL pointed at the test's port), run as `funnelwatch probe --once` runs them, their events POSTed to a local
 * ingest endpoint. Healthy: every journey passes and each run walks its funnel as synthetic events. A deploy that
 * breaks stripe: checkout-stripe fails at `pay` with the shop's 502 answer, the other journeys still pass.
 */
import { createServer } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import type { FwEvent } from '../../../src/events/event.js';
import { createLogger } from '../../../src/obs/logger.js';
import { runProbeCommand } from '../../../src/probes/probe-command.js';
import { Shop } from '../../../src/demo/shop.js';
import { TEST_CARDS, type Provider } from '../../../src/demo/shop-service.js';

const TOKEN = 'ingest-token-shop-journeys';
const PASSWORD = 'canary-Pw-93kq-secret';

async function ingest(): Promise<{ url: string; events: FwEvent[]; bodies: string[] }> {
  const events: FwEvent[] = [];
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const ok = req.url === '/v1/events' && req.headers.authorization === `Bearer ${TOKEN}`;
      if (ok) {
        bodies.push(body);
        events.push(...(JSON.parse(body) as FwEvent[]));
      }
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? { accepted: events.length, rejected: 0, errors: [] } : {}));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, events, bodies };
}

/** The shop on a free port and a copy of probes/ whose `local` base URL is that port. */
async function shopAndJourneys() {
  const shop = new Shop({ seed: 9, checkoutsPerMinute: 0, startTime: Date.now() });
  onTestFinished(() => shop.close());
  const url = await shop.serve(systemClock);
  const dir = mkdtempSync(join(tmpdir(), 'fw-shop-journeys-'));
  for (const f of readdirSync('probes').filter((n) => n.endsWith('.yaml'))) {
    writeFileSync(join(dir, f), readFileSync(join('probes', f), 'utf8').replace('http://127.0.0.1:8090', url));
  }
  vi.stubEnv('SHOP_PROBE_PASSWORD', PASSWORD);
  vi.stubEnv('SHOP_PROBE_STRIPE_CARD', TEST_CARDS.stripe);
  vi.stubEnv('SHOP_PROBE_ADYEN_CARD', TEST_CARDS.adyen);
  vi.stubEnv('SHOP_PROBE_PAYPAL_BUYER', TEST_CARDS.paypal);
  onTestFinished(() => void vi.unstubAllEnvs());
  return { shop, dir };
}

async function probeOnce(dir: string) {
  const sink = await ingest();
  const out: string[] = [];
  const logLines: string[] = [];
  const logger = createLogger({
    level: 'debug',
    pretty: false,
    destination: { write: (s: string) => logLines.push(s) },
  });
  const code = await runProbeCommand(
    { dir, once: true, environment: 'local', url: sink.url, token: TOKEN },
    { logger, out: (l) => out.push(l), err: (l) => out.push(l), stopSignal: new Promise(() => undefined) },
  );
  return { code, out, events: sink.events, bodies: sink.bodies, logLines };
}

const byJourney = (events: FwEvent[], name: string) => events.filter((e) => e.attrs.probe === name);

describe('the probes/ journeys against the demo shop', () => {
  it('all pass on a healthy shop; each run walks its funnel as synthetic events; no secret leaves', async () => {
    const { shop, dir } = await shopAndJourneys();
    const r = await probeOnce(dir);
    expect(r.code, r.out.join('\n')).toBe(0);
    expect(r.out.at(-1)).toBe('4 of 4 journeys passed');
    for (const provider of ['stripe', 'adyen', 'paypal']) {
      const run = byJourney(r.events, `checkout-${provider}`);
      expect(run.map((e) => e.type)).toEqual([
        'checkout_started',
        'payment_submitted',
        'order_completed',
        'probe_run_passed',
      ]);
      expect(new Set(run.map((e) => e.entity)).size).toBe(1);
      expect(run.every((e) => e.attrs.synthetic === 'true' && e.attrs.location === 'eu-west-1')).toBe(true);
    }
    expect(byJourney(r.events, 'signup-verify-login').map((e) => e.type)).toEqual([
      'signup_started',
      'email_verified',
      'first_login',
      'probe_run_passed',
    ]);
    // The shop's own tracking saw four sign-ups and three orders, every event marked synthetic (x-synthetic).
    const emitted = shop.tick(Date.now());
    expect(emitted.filter((e) => e.type === 'order_completed')).toHaveLength(3);
    expect(emitted.filter((e) => e.type === 'signup_started')).toHaveLength(4);
    expect(emitted.every((e) => e.attrs.synthetic === 'true')).toBe(true);
    for (const secret of [PASSWORD, TEST_CARDS.stripe, TEST_CARDS.adyen, TEST_CARDS.paypal]) {
      expect(r.bodies.join('\n')).not.toContain(secret);
      expect(r.logLines.join('\n')).not.toContain(secret);
    }
  });

  it.each([
    ['error', 502, /provider_error.*stripe did not process the payment/],
    ['decline', 402, /"status":"declined".*do_not_honor/],
  ] as const)(
    'a deploy breaking stripe (%s) fails checkout-stripe at pay with the answer; the others pass',
    async (mode, status, excerpt) => {
      const { shop, dir } = await shopAndJourneys();
      shop.setProviderFault('stripe' satisfies Provider, { rate: 1, mode }, Date.now());
      const r = await probeOnce(dir);
      expect(r.code).toBe(1);
      expect(r.out.at(-1)).toBe('3 of 4 journeys passed');
      const fail = r.out.filter((l) => l.startsWith('FAIL'));
      expect(fail).toHaveLength(1);
      expect(fail[0]).toMatch(
        new RegExp(
          `^FAIL checkout-stripe \\(\\d+ ms, run run-[a-z0-9-]+\\): pay: POST /api/checkout/chk_[a-z0-9]+/payment ` +
            `answered ${status}, expected 200$`,
        ),
      );
      const run = byJourney(r.events, 'checkout-stripe');
      expect(run.map((e) => e.type)).toEqual(['checkout_started', 'probe_run_failed']);
      const end = run.at(-1)!;
      expect(end.attrs).toMatchObject({ failed_step: 'pay', reason: 'status', status: String(status) });
      expect(end.attrs.excerpt).toMatch(excerpt);
      expect(r.bodies.join('\n')).not.toContain(TEST_CARDS.stripe);
      for (const other of ['checkout-adyen', 'checkout-paypal', 'signup-verify-login']) {
        expect(byJourney(r.events, other).at(-1)!.type, other).toBe('probe_run_passed');
      }
    },
  );
});
