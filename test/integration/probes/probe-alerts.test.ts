/**
 * Canary users inside the daemon (FW_PROBES_DIR), end to end on real Redis and local HTTP servers: the daemon runs
 * a journey against a local shop, feeds its events into its ingest path and keeps each run's result in Redis; the
 * probe alert (2 of the last 3 runs failed, per location) fires through the same state machine and receivers as any
 * rule, shows in /v1/alerts, reaches a local webhook naming the journey, the failed step, the answer and the deploy
 * before it, and resolves when the shop is healthy again. The shop echoes the secret token in its error answer:
 * it must appear in no stored result, alert, page or log line. A broken journey file is reported path:line:col and
 * the last good journey keeps running; a journey naming a funnel the rule files lack is refused the same way.
 */
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { createLogger } from '../../../src/obs/logger.js';
import { RedisProbeRuns } from '../../../src/probes/run-store.js';
import { runProbeCommand } from '../../../src/probes/probe-command.js';
import { formatProblem } from '../../../src/rules/problem.js';
import { eventually, redisClient, redisUrl, uniquePrefix } from '../../support/env.js';
import { shopRulesDir, startWebhook } from '../../support/shop-daemon.js';

const SECRET = 'tok-Probe-9f3a-never-shown';
const SECRET_ENV = 'FW_TEST_PROBE_ALERT_TOKEN';
const LOCATION = 'lab-1';
const RULE = 'probe:checkout-canary';
const KEY = `${RULE}|location=${LOCATION}`;

function journeyYaml(base: string, funnel = 'shop'): string {
  return `name: checkout-canary
funnel: ${funnel}
every: 1s
timeout: 2s
base_url: { production: '${base}' }
secrets:
  token: { env: ${SECRET_ENV} }
alert:
  failures: 2
  of: 3
  notify: [hook]
steps:
  - name: start
    event: checkout_started
    method: POST
    url: /checkout
    headers: { authorization: 'Bearer {{ secrets.token }}' }
    expect: { status: 201 }
    extract:
      order: { json: $.order }
  - name: pay
    event: order_completed
    method: POST
    url: /pay/{{ vars.order }}
    headers: { authorization: 'Bearer {{ secrets.token }}' }
    expect: { status: 200, body: { '$.status': paid } }
`;
}

async function startShop(): Promise<{ url: string; mode: { failing: boolean }; paidOrders: string[] }> {
  const mode = { failing: false };
  const paidOrders: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      if (auth !== `Bearer ${SECRET}`) return res.writeHead(401).end('{"error":"no token"}');
      if (req.url === '/checkout') {
        res.writeHead(201, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ order: `o-${paidOrders.length + 1}` }));
      }
      const m = /^\/pay\/(o-\d+)$/.exec(req.url ?? '');
      if (!m) return res.writeHead(404).end();
      if (mode.failing) {
        // A broken deploy that echoes the request's credentials: the page must not.
        res.writeHead(500, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: 'stripe declined: provider unreachable', auth }));
      }
      paidOrders.push(m[1]!);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'paid' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, mode, paidOrders };
}

describe('canary users in the daemon', () => {
  it('a failing journey fires 2 of 3 per location, pages with step, answer and deploy, and resolves', async () => {
    process.env[SECRET_ENV] = SECRET;
    onTestFinished(() => void delete process.env[SECRET_ENV]);
    const hook = await startWebhook();
    onTestFinished(() => hook.close());
    const shop = await startShop();
    const probesDir = mkdtempSync(join(tmpdir(), 'fw-probes-'));
    onTestFinished(() => rmSync(probesDir, { recursive: true, force: true }));
    writeFileSync(join(probesDir, 'checkout.yaml'), journeyYaml(shop.url));
    const rulesDir = shopRulesDir(hook.url);
    // Updates and the resolve may follow each other a second apart (the default group_interval is minutes).
    writeFileSync(
      join(rulesDir, 'receivers.yaml'),
      `receivers:\n  - name: hook\n    group_wait: 0s\n    group_interval: 1s\n    webhook: { url: ${hook.url} }\n`,
    );
    const prefix = uniquePrefix();
    const lines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      pretty: false,
      destination: { write: (s: string) => lines.push(s) },
    });
    const d = new Daemon({
      config: loadConfig({
        FW_REDIS_URL: redisUrl(),
        FW_REDIS_PREFIX: prefix,
        FW_HTTP_PORT: '0',
        FW_HTTP_HOST: '127.0.0.1',
        FW_RULES_DIR: rulesDir,
        FW_PROBES_DIR: probesDir,
        FW_PROBES_LOCATION: LOCATION,
        FW_INSTANCE_ID: 'probes',
        FW_LEASE_TTL_MS: '5000',
      }),
      logger,
    });
    onTestFinished(() => d.stop());
    await d.start();
    const redis = redisClient();
    onTestFinished(() => void redis.disconnect());
    const runs = new RedisProbeRuns(redis, prefix);
    const alert = async () => {
      const r = await fetch(`${d.httpUrl}/v1/alerts?status=all`);
      const body = (await r.json()) as { alerts: { key: string; status: string; evidence: { reason?: string } }[] };
      return body.alerts.find((a) => a.key === KEY);
    };

    // Healthy: runs pass, their events are applied, the alert is looked at and stays quiet.
    await eventually(
      async () =>
        (await runs.latest('checkout-canary', LOCATION, 3)).filter((r) => r.ok).length >= 2 ? true : undefined,
      30_000,
      'two passed runs recorded',
    );
    await d.ticker.runOnce();
    expect((await alert())?.status).toBe('inactive');
    expect(hook.bodies).toEqual([]);
    const metrics = await (await fetch(`${d.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /^fw_probe_runs_total\{journey="checkout-canary",location="lab-1",outcome="passed"\} [1-9]/m,
    );
    expect(metrics).toMatch(/^fw_probe_step_seconds_count\{journey="checkout-canary",step="pay",location="lab-1"\} /m);
    // The synthetic events reached the ingest path and changed no count of the real funnel.
    const shopFunnel = d.rules.current!.funnels.find((f) => f.name === 'shop')!;
    const totals = await d.windows.stepTotals({
      funnel: shopFunnel,
      from: Date.now() - 3_600_000,
      to: Date.now() + 60_000,
    });
    expect(totals.volume.every((v) => v === 0)).toBe(true);
    expect(metrics).not.toMatch(/^fw_events_rejected_total/m);

    // A deploy, then the shop breaks: two failed runs of the last three fire the alert.
    const deployed = await fetch(`${d.httpUrl}/v1/deploys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'shop', version: '7.1.0', environment: 'production', ts: Date.now() }),
    });
    expect(deployed.status).toBeLessThan(300);
    shop.mode.failing = true;
    const fired = await eventually(
      async () => {
        await d.ticker.runOnce();
        const a = await alert();
        return a?.status === 'firing' ? a : undefined;
      },
      30_000,
      'the probe alert firing',
    );
    expect(fired.evidence.reason).toMatch(/checkout-canary failed [23] of its last 3 runs at lab-1/);
    expect(fired.evidence.reason).toContain('step pay');
    expect(fired.evidence.reason).toContain('500');
    expect(fired.evidence.reason).toContain('stripe declined');
    const page = await eventually(
      () => hook.bodies.find((b) => b.event === 'firing'),
      20_000,
      'the page at the webhook',
    );
    const pageText = JSON.stringify(page);
    expect(pageText).toContain(RULE);
    expect(pageText).toContain('location');
    expect(pageText).toContain('step pay');
    expect(pageText).toContain('stripe declined');
    expect(pageText).toContain('shop 7.1.0');
    expect(pageText).not.toContain(SECRET);

    // Healthy again: once fewer than 2 of the last 3 runs failed, the alert resolves and the webhook hears it.
    shop.mode.failing = false;
    await eventually(
      async () => {
        await d.ticker.runOnce();
        return (await alert())?.status === 'resolved' || (await alert())?.status === 'inactive' ? true : undefined;
      },
      30_000,
      'the probe alert resolved',
    );
    await eventually(
      async () => {
        await d.ticker.runOnce();
        return hook.bodies.some((b) => b.event === 'resolved') ? true : undefined;
      },
      20_000,
      'the resolve at the webhook',
    );

    // The secret is in no stored result, alert, page or log line, though the shop echoed it back.
    const stored = JSON.stringify(await runs.latest('checkout-canary', LOCATION, 50));
    expect(stored).toContain('stripe declined');
    expect(stored).not.toContain(SECRET);
    expect(JSON.stringify(await (await fetch(`${d.httpUrl}/v1/alerts?status=all`)).json())).not.toContain(SECRET);
    expect(JSON.stringify(hook.bodies)).not.toContain(SECRET);
    expect(lines.join('')).toContain('journey checkout-canary failed');
    expect(lines.join('')).not.toContain(SECRET);

    // A broken journey file: reported path:line:col, and the last good journey keeps running.
    writeFileSync(
      join(probesDir, 'checkout.yaml'),
      journeyYaml(shop.url).replace('    method: POST\n', '    methd: POST\n'),
    );
    await d.journeys!.reload();
    expect(d.journeys!.lastErrors.map(formatProblem)).toEqual([
      `${join(probesDir, 'checkout.yaml')}:15:5: unknown field "methd" in steps[0] (did you mean "method"?)`,
    ]);
    // A journey whose funnel the rule files do not define: refused where the funnel is named.
    writeFileSync(join(probesDir, 'checkout.yaml'), journeyYaml(shop.url, 'nope'));
    await d.journeys!.reload();
    expect(d.journeys!.lastErrors.map(formatProblem)).toEqual([
      `${join(probesDir, 'checkout.yaml')}:2:9: unknown funnel "nope" (the rule files define: shop)`,
    ]);
    const paid = shop.paidOrders.length;
    await eventually(() => (shop.paidOrders.length > paid ? true : undefined), 20_000, 'the last good journey running');
    expect(d.journeys!.current!.journeys[0]!.funnel).toBe('shop');
  });

  it('a standalone runner (funnelwatch probe --redis) records its runs where the daemon judges them', async () => {
    process.env[SECRET_ENV] = SECRET;
    onTestFinished(() => void delete process.env[SECRET_ENV]);
    const shop = await startShop();
    shop.mode.failing = true;
    // The daemon's ingest endpoint, as far as the runner sees it: it takes the events.
    const ingest = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ accepted: (JSON.parse(body) as unknown[]).length, rejected: 0, errors: [] }));
      });
    });
    await new Promise<void>((r) => ingest.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => ingest.close(() => r())));
    const probesDir = mkdtempSync(join(tmpdir(), 'fw-probes-'));
    onTestFinished(() => rmSync(probesDir, { recursive: true, force: true }));
    writeFileSync(join(probesDir, 'checkout.yaml'), journeyYaml(shop.url));
    const prefix = uniquePrefix();
    const out: string[] = [];
    const code = await runProbeCommand(
      {
        dir: probesDir,
        once: true,
        environment: 'production',
        location: 'ap-south-1',
        url: `http://127.0.0.1:${(ingest.address() as AddressInfo).port}`,
        redis: { url: redisUrl(), prefix },
      },
      {
        logger: createLogger({ level: 'silent', pretty: false }),
        out: (l) => out.push(l),
        err: (l) => out.push(l),
        stopSignal: new Promise(() => undefined),
      },
    );
    expect(code).toBe(1);
    const redis = redisClient();
    onTestFinished(() => void redis.disconnect());
    const runs = new RedisProbeRuns(redis, prefix);
    expect(await runs.locations('checkout-canary')).toEqual(['ap-south-1']);
    const [run] = await runs.latest('checkout-canary', 'ap-south-1', 3);
    expect(run).toMatchObject({ ok: false, step: 'pay', reason: 'status', status: 500 });
    expect(JSON.stringify(run)).not.toContain(SECRET);
  });
});
