/**
 * The gate records in a real Redis: replicas answering the same comparison at once queue its announcement exactly
 * once (the record, the "announced" mark and the outbox jobs are one Lua step); a record of older data never
 * overwrites a newer one; a new verdict is announced again. And a broken gate in a rule file is reported at
 * file:line:col while the last good set (with its gates) stays active.
 */
import { describe, it, expect, onTestFinished } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { GateStore } from '../../../src/gates/gate-store.js';
import type { GateEvidence } from '../../../src/gates/gate-evidence.js';
import { outboxWrites } from '../../../src/notify/delivery-log.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';
import { alertsKeys } from '../../../src/redis/alert-keys.js';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { redisClient, redisUrl, uniquePrefix } from '../../support/env.js';

function record(dataUntilMs: number, verdict: GateEvidence['verdict']): GateEvidence {
  return {
    gate: 'checkout-canary',
    splitBy: 'app_version',
    canary: { value: '5.3.0', entered: 10, trials: 10, successes: 3, rate: 0.3 },
    baseline: { value: '5.2.0', entered: 90, trials: 90, successes: 60, rate: 0.67 },
    verdict,
    dataUntilMs,
  } as GateEvidence;
}

function jobs(verdict: string): DeliveryJob[] {
  return ['slack-payments', 'console'].map((receiver) => ({
    id: `gate:x:${verdict}/gate_verdict/${receiver}`,
    receiver,
    event: 'gate_verdict',
    alert: { incidentId: `gate:x:${verdict}` } as DeliveryJob['alert'],
    createdAt: 1,
    attempt: 0,
  }));
}

describe('gate records', () => {
  it('announce a verdict exactly once across replicas, keep the newest data, announce a new verdict', async () => {
    const prefix = uniquePrefix();
    const [a, b] = [redisClient(), redisClient()];
    const stores = [new GateStore({ redis: a, prefix }), new GateStore({ redis: b, prefix })];
    const outbox = alertsKeys(prefix).outbox;

    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        stores[i % 2]!.save(record(1_000 + i, 'fail'), 'fail', outboxWrites(jobs('fail'))),
      ),
    );
    expect(results.filter((r) => r.queued)).toHaveLength(1);
    expect(await a.xlen(outbox)).toBe(2);
    const marks = await a.hgetall(alertsKeys(prefix).delivery);
    expect(Object.keys(marks).sort()).toEqual(['console|gate:x:fail', 'slack-payments|gate:x:fail']);
    const comparison = { gate: 'checkout-canary', splitBy: 'app_version', canary: '5.3.0', baseline: '5.2.0' };
    expect((await stores[1]!.get(comparison))!.dataUntilMs).toBe(1_007);

    // A slow replica's answer from older data is not stored over the newer one.
    expect(await stores[0]!.save(record(500, 'inconclusive'), undefined, [])).toEqual({ stored: false, queued: false });
    expect((await stores[1]!.get(comparison))!.dataUntilMs).toBe(1_007);

    // An SRM found later can withdraw a pass; a later different decision is news and is announced.
    expect(await stores[1]!.save(record(2_000, 'pass'), 'pass', outboxWrites(jobs('pass')))).toEqual({
      stored: true,
      queued: true,
    });
    expect(await a.xlen(outbox)).toBe(4);
    expect(await a.pttl(`${prefix}:{alerts}:gates`)).toBeGreaterThan(29 * 86_400_000);
  });

  it('a broken gate in a rule file is reported at file:line:col and the last good gates stay active', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-rules-'));
    cpSync('rules', dir, { recursive: true });
    const config = loadConfig({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: uniquePrefix(),
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: dir,
      FW_INSTANCE_ID: uniquePrefix(),
    });
    const d = new Daemon({ config, logger: pino({ level: 'silent' }) });
    onTestFinished(() => d.stop());
    await d.start();
    const good = readFileSync(join(dir, 'checkout.yaml'), 'utf8');
    writeFileSync(join(dir, 'checkout.yaml'), good.replace('split_by: app_version', 'split_by: app_versoin'));
    await d.reloadRules();
    const status = d.rules.status();
    expect(status.errors).toHaveLength(1);
    expect(status.errors[0]).toMatch(
      /checkout\.yaml:\d+:15: "app_versoin" is not a dimension of funnel "checkout" \(did you mean "app_version"\?\)/,
    );
    const listed = (await (await fetch(`${d.httpUrl}/v1/gates`)).json()) as { gates: { name: string }[] };
    expect(listed.gates.map((g) => g.name)).toEqual(['checkout-canary']);
    expect(d.rules.current!.gates[0]!.splitBy).toBe('app_version');
  });
});
