/**
 * A small shop for tests that run the real daemon until it pages: one funnel (checkout started → paid) whose rule
 * fires on a drop against a trailing hour at once, a webhook receiver on loopback that records every page, and the
 * events of a shop where 3 of 4 checkouts are paid until the drop (then 1 in 8).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { FUNNEL_DEFAULTS, type FunnelDef } from '../../src/funnels/funnel.js';

export const MIN = 60_000;

/** What the tests read of a webhook body (Alertmanager's v4 message with our event and job id). */
export interface WebhookBody {
  event: string;
  jobId: string;
  groupKey?: string;
  alerts?: { status: string; labels: Record<string, string> }[];
}

/**
 * A webhook receiver on loopback that records every POST body and answers 200; `beforeAnswer`, when given, runs
 * (awaited) after a body is recorded and before the answer (a test injecting a fault mid-delivery).
 */
export async function startWebhook(
  beforeAnswer?: (body: WebhookBody) => Promise<void>,
): Promise<{ url: string; bodies: WebhookBody[]; close: () => Promise<void> }> {
  const bodies: WebhookBody[] = [];
  const read = async (req: IncomingMessage) => {
    let s = '';
    for await (const c of req) s += String(c);
    return s;
  };
  const server = createServer((req, res) => {
    void read(req).then(async (s) => {
      const body = JSON.parse(s) as WebhookBody;
      bodies.push(body);
      await beforeAnswer?.(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hook`, bodies, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * A rules directory with the shop funnel, its `paid-drop` rule and a `hook` receiver posting to `hookUrl`, with no
 * group_wait by default (most of these tests count evaluation ticks from firing to delivery).
 */
export function shopRulesDir(hookUrl: string, groupWait = '0s'): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-shop-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'shop.yaml'),
    `funnel:
  name: shop
  entity: entity
  steps:
    - { name: started, event: checkout_started }
    - { name: paid, event: order_completed }
  conversion_window: 10m
  bucket: 1m
  allowed_lateness: 1m
  dimensions: [platform]
  retention: { fine: 3d, rollup_bucket: 15m, rollup: 35d }

rules:
  - name: paid-drop
    metric: { ratio_conversion: { from: started, to: paid } }
    drop: 20%
    baseline: { trailing: 60m }
    min_volume: 50
    for: 0m
    resolve_after: 30m
    severity: critical
    notify: [hook]
`,
  );
  writeFileSync(
    join(dir, 'receivers.yaml'),
    `receivers:\n  - name: hook\n    group_wait: ${groupWait}\n    webhook: { url: ${hookUrl} }\n`,
  );
  return dir;
}

/** The shop funnel of `shopRulesDir` as the window store takes it (to read the counts back). */
export const shopFunnel: FunnelDef = {
  name: 'shop',
  entityField: 'entity',
  steps: [
    { name: 'started', event: 'checkout_started' },
    { name: 'paid', event: 'order_completed' },
  ],
  conversionWindowMs: 10 * MIN,
  bucketMs: MIN,
  allowedLatenessMs: MIN,
  dimensions: [{ name: 'platform', maxValues: FUNNEL_DEFAULTS.dimensionMaxValues }],
  services: [],
  retention: { fineMs: 3 * 86_400_000, rollupBucketMs: 15 * MIN, rollupMs: 35 * 86_400_000 },
};

export interface ShopEvent {
  id: string;
  type: string;
  ts: number;
  entity: string;
  attrs: Record<string, string>;
}

/** Minute k after `t0`: 40 checkouts, 3 of 4 paid before minute `dropFrom`, 1 in 8 from it on. */
export function shopMinute(t0: number, k: number, dropFrom: number): ShopEvent[] {
  const out: ShopEvent[] = [];
  for (let i = 0; i < 40; i++) {
    const entity = `c${k}-${i}`;
    const ts = t0 + k * MIN + i * 1_000;
    const attrs = { platform: i % 2 ? 'ios' : 'web' };
    out.push({ id: `${entity}-s`, type: 'checkout_started', ts, entity, attrs });
    const paid = k < dropFrom ? i % 4 !== 0 : i % 8 === 0;
    if (paid) out.push({ id: `${entity}-p`, type: 'order_completed', ts: ts + 5_000, entity, attrs });
  }
  return out;
}

/**
 * 30 checkouts of the shipped checkout funnel from `from`, 5 s apart, whose orders say `status: succeeded` (one
 * `pending`) where its completed step wants `status: paid`: a step whose `where` filter turns its events away.
 */
export function ordersMissingPaidFilter(from: number): ShopEvent[] {
  const events: ShopEvent[] = [];
  for (let i = 0; i < 30; i++) {
    const ts = from + i * 5000;
    const attrs = { platform: 'web', payment_provider: 'stripe' };
    events.push({ id: `s${i}`, type: 'checkout_started', ts, entity: `c${i}`, attrs });
    events.push({ id: `p${i}`, type: 'payment_submitted', ts: ts + 1000, entity: `c${i}`, attrs });
    const status = i === 0 ? 'pending' : 'succeeded';
    events.push({ id: `o${i}`, type: 'order_completed', ts: ts + 2000, entity: `c${i}`, attrs: { ...attrs, status } });
  }
  return events;
}
