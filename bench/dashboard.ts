/**
 * `npm run bench:dashboard` — the rule page with 7 days of 1-minute data (issue 23): a funnel whose rule is
 * segmented by a dimension with 40 values, 40 checkouts a minute (one per value, 60 % paid), written through the
 * real window store into a throw-away redis-server. Measures, for the 7-day span of the funnel-wide series and of
 * one segment value: the server's time for the page's JSON (median of 5), the bytes it sends, and, in headless
 * Chromium (FW_CHROMIUM or /usr/bin/chromium), the time from navigation to the chart drawn. Target ≤ 1 s to drawn.
 * Needs `npm run build` first (the bundled client in dist/dashboard/assets). Prints a table, then one JSON line.
 */
import { resolve } from 'node:path';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { chromium } from 'playwright-core';
import { startRedisServer } from '../src/devenv/redis-server.js';
import type { FwEvent } from '../src/events/event.js';
import type { FunnelDef } from '../src/funnels/funnel.js';
import { RedisWindowStore } from '../src/windows/redis-window-store.js';
import { RedisAlertStore } from '../src/engine/alert-store.js';
import { RedisDeployStore } from '../src/deploys/deploy-store.js';
import { RedisSilenceStore } from '../src/notify/silence-store.js';
import { Metrics } from '../src/obs/metrics.js';
import { createLogger } from '../src/obs/logger.js';
import { dashboardRoutes } from '../src/dashboard/routes.js';
import type { AlertRuleDef } from '../src/rules/rule.js';
import type { RuleSet } from '../src/rules/rule-set.js';

const MIN = 60_000;
const DAYS = 7;
const VALUES = 40;
const PREFIX = 'bench-dash';

const funnel: FunnelDef = {
  name: 'shop',
  entityField: 'entity',
  steps: [
    { name: 'started', event: 'checkout_started' },
    { name: 'paid', event: 'order_completed' },
  ] as FunnelDef['steps'],
  conversionWindowMs: 10 * MIN,
  bucketMs: MIN,
  allowedLatenessMs: MIN,
  dimensions: [{ name: 'segment', maxValues: 50 }] as FunnelDef['dimensions'],
  services: [],
  retention: { fineMs: 8 * 86_400_000, rollupBucketMs: 15 * MIN, rollupMs: 35 * 86_400_000 },
};
const rule = {
  name: 'paid-drop',
  funnel: 'shop',
  metric: { kind: 'ratio_conversion', from: 'started', to: 'paid' },
  direction: 'drop',
  minChange: 0.1,
  baseline: { kind: 'trailing', windowMs: 60 * MIN },
  falseAlarmsPerWeek: 1,
  minVolume: 50,
  forMs: 0,
  resolveAfterMs: 30 * MIN,
  severity: 'critical',
  segments: ['segment'],
  notify: [],
  labels: {},
  mixShift: 'page',
  source: { file: 'bench', line: 1, col: 1 },
} as AlertRuleDef;
const ruleSet = { funnels: [funnel], rules: [rule], gates: [], receivers: [], version: 'bench', files: [] } as RuleSet;

async function main(): Promise<void> {
  const redisSrv = await startRedisServer();
  const redis = new Redis(redisSrv.url);
  const windows = new RedisWindowStore({ redis, prefix: PREFIX });
  const end = Math.floor(Date.now() / MIN) * MIN;
  const start = end - DAYS * 1440 * MIN;
  const t0 = performance.now();
  let offset = 0;
  let batch: FwEvent[] = [];
  for (let t = start; t < end; t += MIN) {
    for (let i = 0; i < VALUES; i++) {
      const entity = `c${t / MIN}-${i}`;
      const attrs = { segment: `v${i}` };
      batch.push({ id: `${entity}s`, type: 'checkout_started', ts: t + i * 1000, entity, attrs });
      if ((t / MIN + i) % 5 < 3)
        batch.push({ id: `${entity}p`, type: 'order_completed', ts: t + i * 1000 + 5000, entity, attrs });
    }
    if (batch.length >= 8000 || t + MIN >= end) {
      await windows.applyBatch({
        funnel,
        partition: '0',
        firstOffset: offset,
        lastOffset: offset + batch.length - 1,
        events: batch,
        now: end,
      });
      offset += batch.length;
      batch = [];
    }
  }
  const loadS = (performance.now() - t0) / 1000;

  const app = Fastify();
  app.register(
    dashboardRoutes({
      token: '',
      public: false,
      cookieSecure: 'auto',
      clock: { now: () => end },
      rules: () => ruleSet,
      windows,
      alerts: new RedisAlertStore({ redis, prefix: PREFIX }),
      deploys: new RedisDeployStore({
        redis,
        prefix: PREFIX,
        retentionMs: 30 * 86_400_000,
        clock: () => end,
        logger: createLogger({ level: 'silent', pretty: false }),
      }),
      silences: new RedisSilenceStore({ redis, prefix: PREFIX }),
      metrics: new Metrics(),
      assetsDir: resolve('dist/dashboard/assets'),
    }),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

  const rows: { series: string; serverMsMedian: number; bytes: number; points: number; drawnMs: number }[] = [];
  const browser = await chromium.launch({
    executablePath: process.env.FW_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  for (const seg of [null, 'segment=v7']) {
    const q = `span=7d${seg ? `&segment=${encodeURIComponent(seg)}` : ''}`;
    const times: number[] = [];
    let bytes = 0,
      points = 0;
    for (let k = 0; k < 5; k++) {
      const s = performance.now();
      const r = await fetch(`${url}/ui/api/rules/paid-drop?${q}`);
      const body = await r.text();
      times.push(performance.now() - s);
      bytes = Buffer.byteLength(body);
      points = (JSON.parse(body) as { series: { t: number[] } }).series.t.length;
    }
    times.sort((a, b) => a - b);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${url}/#/rule/paid-drop?${q}`);
    await page.locator('[data-chart=rule][data-drawn="1"]').waitFor({ timeout: 60_000 });
    const drawnMs = Number(await page.locator('[data-chart=rule]').getAttribute('data-drawn-at'));
    await page.close();
    rows.push({
      series: seg ?? 'funnel-wide',
      serverMsMedian: Math.round(times[2]!),
      bytes,
      points,
      drawnMs: Math.round(drawnMs),
    });
  }
  await browser.close();
  await app.close();
  redis.disconnect();
  await redisSrv.stop();

  console.log(`data: ${DAYS} days of 1-minute buckets, ${VALUES} segment values, written in ${loadS.toFixed(1)} s`);
  console.log('series        server ms (median)   bytes     points   drawn ms (navigation → chart)');
  for (const r of rows) {
    console.log(
      `${r.series.padEnd(14)}${String(r.serverMsMedian).padStart(18)}${String(r.bytes).padStart(10)}` +
        `${String(r.points).padStart(9)}${String(r.drawnMs).padStart(12)}`,
    );
  }
  const worst = Math.max(...rows.map((r) => r.drawnMs));
  console.log(`target: drawn within 1000 ms: ${worst <= 1000 ? 'met' : 'NOT met'} (worst ${worst} ms)`);
  console.log(
    JSON.stringify({ bench: 'dashboard', days: DAYS, values: VALUES, rows, drawnWithinTarget: worst <= 1000 }),
  );
}

await main();
