/**
 * A recorded stream with a known incident for the replay and backtest tests: the demo shop (src/demo/shop.ts) with
 * adyen's payments failing for a while, written as NDJSON in all three envelopes plus a few broken lines, and a
 * small rule directory watching it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shop } from '../../../src/demo/shop.js';
import type { FwEvent } from '../../../src/events/event.js';
import { runReplay } from '../../../src/replay/replay.js';

export const MIN = 60_000;
export const T0 = Date.UTC(2026, 9, 5, 8, 0, 0);
export const DROP_AT = 100;
export const RECOVER_AT = 125;
export const MINUTES = 160;

export const RULES_YAML = `
funnel:
  name: checkout
  entity: entity
  steps:
    - { name: started,   event: checkout_started }
    - { name: payment,   event: payment_submitted }
    - { name: completed, event: order_completed, where: { status: paid } }
  conversion_window: 30m
  bucket: 1m
  allowed_lateness: 2m
  dimensions: [platform, payment_provider]
  services: [payments-service]

rules:
  - name: payment-success-drop
    metric: { ratio_conversion: { from: payment, to: completed } }
    drop: 10%
    baseline: { trailing: 30m }
    min_volume: 30
    for: 2m
    resolve_after: 3m
    severity: critical
    segments: [payment_provider]
    notify: [console]
`;

/** The shop's events minute by minute: minute k holds the events with T0 + k·MIN ≤ ts < T0 + (k+1)·MIN. */
export function shopMinutes(opts: { checkoutsPerMinute?: number; minutes?: number; drop?: boolean } = {}): FwEvent[][] {
  const shop = new Shop({ seed: 11, checkoutsPerMinute: opts.checkoutsPerMinute ?? 150, startTime: T0 });
  if (opts.drop !== false) {
    shop.setProviderFailure('adyen', 0.8, T0 + DROP_AT * MIN);
    shop.setProviderFailure('adyen', 0, T0 + RECOVER_AT * MIN);
  }
  const out: FwEvent[][] = [];
  // tick(t) returns events with ts ≤ t; ticking 1 ms before each minute end keeps every event in its own minute.
  for (let k = 0; k < (opts.minutes ?? MINUTES); k++) out.push(shop.tick(T0 + (k + 1) * MIN - 1));
  return out;
}

/** The same event in another envelope, so replay reads all three the way the daemon does. */
function envelope(e: FwEvent, i: number): unknown {
  if (i % 5 === 1) {
    return {
      type: 'track',
      event: e.type,
      timestamp: new Date(e.ts).toISOString(),
      messageId: e.id,
      userId: e.entity,
      properties: e.attrs,
    };
  }
  if (i % 5 === 2) {
    return {
      specversion: '1.0',
      id: e.id,
      type: e.type,
      time: new Date(e.ts).toISOString(),
      source: 'shop',
      subject: e.entity,
      data: e.attrs,
    };
  }
  return e;
}

/** NDJSON of the minutes, with three lines replay must reject (and count) without stopping. */
export function ndjson(minutes: FwEvent[][]): string {
  const lines: string[] = [];
  let i = 0;
  for (const m of minutes) for (const e of m) lines.push(JSON.stringify(envelope(e, i++)));
  lines.splice(10, 0, 'not json at all', '{"hello":"world"}', '[1,2]');
  return `${lines.join('\n')}\n`;
}

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `fw-${name}-`));
}

export function writeRules(dir: string, yaml = RULES_YAML): string {
  writeFileSync(join(dir, 'checkout.yaml'), yaml);
  return dir;
}

/**
 * The demo shop at 300 checkouts a minute from `t0`, adyen failing 90 % of its payments from minute `dropAt` to
 * `recoverAt`, replayed through the shipped example rules (rules/): the replay's JSONL lines, parsed. A redis-server
 * of the replay's own (no URL): replay.test.ts checks that no replay keys are left in the shared Redis.
 */
export async function replayProviderOutage(o: {
  seed: number;
  t0: number;
  dropAt: number;
  recoverAt: number;
  minutes: number;
}): Promise<Record<string, unknown>[]> {
  const shop = new Shop({ seed: o.seed, checkoutsPerMinute: 300, startTime: o.t0 });
  shop.setProviderFailure('adyen', 0.9, o.t0 + o.dropAt * MIN);
  shop.setProviderFailure('adyen', 0, o.t0 + o.recoverAt * MIN);
  const out: string[] = [];
  for (let k = 0; k < o.minutes; k++) for (const e of shop.tick(o.t0 + (k + 1) * MIN - 1)) out.push(JSON.stringify(e));
  const file = join(tempDir('outage'), 'events.ndjson');
  writeFileSync(file, `${out.join('\n')}\n`);
  const lines: Record<string, unknown>[] = [];
  await runReplay({
    events: [file],
    rulesDir: 'rules',
    out: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>),
  });
  return lines;
}
