/**
 * A shop rolling out a canary app version, for the canary gate tests: a checkout funnel with a short conversion
 * window (cohorts mature in 4 minutes), a gate `canary` on it (split by app_version, cohort conversion, warm-up 2m,
 * expected weight 10%), a webhook receiver `hook` for its announcements, and minutes of checkouts per version with
 * a chosen conversion, deterministic (no randomness: the same minutes give the same verdicts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { MIN, type ShopEvent } from './shop-daemon.js';

export { MIN };

export const GATE_RULES = `funnel:
  name: shop
  steps:
    - { name: started, event: checkout_started }
    - { name: completed, event: order_completed }
  conversion_window: 2m
  bucket: 1m
  allowed_lateness: 1m
  dimensions: [app_version, platform]
gates:
  - name: canary
    description: Checkouts on the new version complete as often as on the stable one.
    metric: { cohort_conversion: { from: started, to: completed } }
    split_by: app_version
    drop: 20%
    false_fail: 5%
    power: 80%
    expected_weight: 10%
    warmup: 2m
    max_duration: 2h
    notify: [hook]
    owner: payments-team
`;

/** A rules directory with the canary shop and a `hook` webhook receiver posting to `hookUrl`. */
export function canaryRulesDir(hookUrl: string, rules = GATE_RULES): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-canary-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'shop.yaml'), rules);
  writeFileSync(join(dir, 'receivers.yaml'), `receivers:\n  - name: hook\n    webhook: { url: ${hookUrl} }\n`);
  return dir;
}

export interface Arm {
  version: string;
  /** Checkouts started per minute. */
  perMinute: number;
  /** Share of them completed (the pattern repeats every 20 checkouts, so a minute's rate is exact). */
  rate: number;
}

/** Minute k after t0: each arm's checkouts, those completing 20 s after they started. */
export function canaryMinute(t0: number, k: number, arms: readonly Arm[]): ShopEvent[] {
  const out: ShopEvent[] = [];
  for (const arm of arms) {
    const done = Math.round(arm.rate * 20);
    for (let i = 0; i < arm.perMinute; i++) {
      const entity = `${arm.version}-${k}-${i}`;
      const ts = t0 + k * MIN + Math.floor((i * 30_000) / arm.perMinute);
      const attrs = { app_version: arm.version, platform: i % 3 ? 'ios' : 'android' };
      out.push({ id: `${entity}-s`, type: 'checkout_started', ts, entity, attrs });
      if (i % 20 < done) out.push({ id: `${entity}-c`, type: 'order_completed', ts: ts + 20_000, entity, attrs });
    }
  }
  return out.sort((a, b) => a.ts - b.ts);
}

/** Minutes [from, to) of the arms, in time order. */
export function canaryMinutes(t0: number, from: number, to: number, arms: readonly Arm[]): ShopEvent[] {
  const out: ShopEvent[] = [];
  for (let k = from; k < to; k++) out.push(...canaryMinute(t0, k, arms));
  return out.sort((a, b) => a.ts - b.ts);
}
