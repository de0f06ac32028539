/**
 * Canary users kept apart from real traffic, end to end: a probe run sends its synthetic events through the real
 * daemon's POST /v1/events (real Redis, the shipped rules) and the real funnel's counts do not move, while the
 * daemon accepts every one of the events (so they were filtered by the funnel, not refused at the door).
 */
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { HttpEventSink } from '../../../src/probes/event-sink.js';
import { loadJourneyPaths } from '../../../src/probes/load.js';
import { ProbeRunner } from '../../../src/probes/runner.js';
import { startInProcessDaemon } from '../../support/daemon.js';

const TOKEN = 'synthetic-apart-token';

describe('synthetic events and real funnels', () => {
  it('a probe run through the daemon changes no count of the real checkout funnel', async () => {
    const d = await startInProcessDaemon(TOKEN);

    const shop = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'paid' }));
      });
    });
    await new Promise<void>((r) => shop.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => shop.close(() => r())));
    const base = `http://127.0.0.1:${(shop.address() as AddressInfo).port}`;

    const now = Date.now();
    const real = (type: string, entity: string, dt: number, attrs: Record<string, string> = {}) => ({
      id: `${type}-${entity}`,
      type,
      ts: now - 60_000 + dt,
      entity,
      attrs: { platform: 'ios', ...attrs },
    });
    const post = (batch: unknown[]) =>
      fetch(`${d.httpUrl}/v1/events`, {
        method: 'POST',
        body: JSON.stringify(batch),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      });
    expect(
      (
        await post([
          real('checkout_started', 'c1', 0),
          real('checkout_started', 'c2', 0),
          real('payment_submitted', 'c1', 500),
        ])
      ).status,
    ).toBe(200);
    const checkout = d.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    const totals = () => d.windows.stepTotals({ funnel: checkout, from: now - 3_600_000, to: now + 60_000 });
    const before = await totals();
    expect(before.volume).toEqual([2, 1, 0]);

    // A journey walking all three steps of the funnel, and a synthetic completion for a real checkout.
    const dir = mkdtempSync(join(tmpdir(), 'fw-probes-'));
    writeFileSync(
      join(dir, 'walk.yaml'),
      `name: walk
funnel: checkout
every: 1m
base_url: { production: "${base}" }
steps:
  - { name: start, event: checkout_started, url: /start }
  - { name: pay, event: payment_submitted, method: POST, url: /pay, body: { x: 1 } }
  - { name: order, event: order_completed, url: /order, expect: { body: { "$.status": paid } } }
`,
    );
    const loaded = await loadJourneyPaths([dir], { environment: 'production' });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const runner = new ProbeRunner({ sink: new HttpEventSink(d.httpUrl, TOKEN), logger: pino({ level: 'silent' }) });
    onTestFinished(() => runner.stop());
    for (let i = 0; i < 3; i++) {
      const [r] = await runner.runAll(loaded.set);
      expect(r!.run.failure).toBeUndefined();
      expect(r!.delivered).toBe(true); // all four events accepted by the daemon (200, none rejected)
    }
    const r = await post([real('order_completed', 'c1', 1_000, { status: 'paid', synthetic: 'true' })]);
    expect(await r.json()).toMatchObject({ accepted: 1, rejected: 0 });

    expect(await totals()).toEqual(before);
  });
});
