/**
 * A daemon holding a replayed incident, for the dashboard's tests: the shop funnel (3 of 4 checkouts paid, then 1
 * in 8 for the last 12 of 100 minutes), its `paid-drop` rule (fires), a `paid-drop-strict` rule that asks for more
 * traffic than the shop has (insufficient, with the detector's reason), and a deploy marker two minutes before the
 * drop.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { Daemon } from '../../../src/app/daemon.js';
import { startInProcessDaemon } from '../../support/daemon.js';
import { eventually } from '../../support/env.js';
import { MIN, shopMinute, startWebhook } from '../../support/shop-daemon.js';

export const TOKEN = 'dashboard-test-token-0123456789';

export interface Incident {
  d: Daemon;
  url: string;
  t0: number;
  deployTs: number;
  firedAt: number;
}

export async function daemonWithIncident(env: Record<string, string> = {}): Promise<Incident> {
  const hook = await startWebhook();
  onTestFinished(() => hook.close());
  const dir = mkdtempSync(join(tmpdir(), 'fw-dash-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const rule = (name: string, minVolume: number) => `  - name: ${name}
    metric: { ratio_conversion: { from: started, to: paid } }
    drop: 20%
    baseline: { trailing: 60m }
    min_volume: ${minVolume}
    for: 0m
    resolve_after: 30m
    severity: critical
    segments: [platform]
    notify: [hook]
`;
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
${rule('paid-drop', 50)}${rule('paid-drop-strict', 1_000_000)}`,
  );
  writeFileSync(
    join(dir, 'receivers.yaml'),
    `receivers:\n  - name: hook\n    group_wait: 0s\n    webhook: { url: ${hook.url} }\n`,
  );
  const d = await startInProcessDaemon(TOKEN, { FW_RULES_DIR: dir, FW_TICK_SCHEDULE: '* * * * * *', ...env });
  if (!d.rules.current) throw new Error(`the test's rule files did not load (${dir})`);
  const url = d.httpUrl;
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const t0 = Math.floor(Date.now() / MIN) * MIN - 100 * MIN;
  const deployTs = t0 + 86 * MIN;
  const dep = await fetch(`${url}/v1/deploys`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ service: 'checkout-api', version: '2.4.1', environment: 'production', ts: deployTs }),
  });
  if (dep.status >= 300) throw new Error(`deploy marker: ${dep.status} ${await dep.text()}`);
  const events = Array.from({ length: 100 }, (_, k) => shopMinute(t0, k, 88)).flat();
  const r = await fetch(`${url}/v1/events`, { method: 'POST', headers: auth, body: JSON.stringify(events) });
  if (r.status !== 200) throw new Error(`events: ${r.status} ${await r.text()}`);
  const firedAt = await eventually(
    async () => {
      const a = (await (await fetch(`${url}/v1/alerts?rule=paid-drop`, { headers: auth })).json()) as {
        alerts: { status: string; segment: unknown; firedAt: string | null }[];
      };
      const wide = a.alerts.find((x) => x.segment === null && x.status === 'firing');
      return wide?.firedAt ? Date.parse(wide.firedAt) : undefined;
    },
    90_000,
    'paid-drop firing',
  );
  return { d, url, t0, deployTs, firedAt };
}
