import { describe, it, expect, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { redisUrl, uniquePrefix } from '../../support/env.js';
import { windowQueries } from '../../support/window-queries.js';

describe('the once-a-minute tick', () => {
  it('compacts sealed window buckets into funnel history without changing what queries answer', async () => {
    const config = loadConfig({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: uniquePrefix(),
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: 'rules',
      FW_INSTANCE_ID: 'tick',
    });
    const d = new Daemon({ config, logger: pino({ level: 'silent' }) });
    onTestFinished(() => d.stop());
    await d.start();
    // Two hours of checkouts, one a minute, so the older part is far behind the watermark and can be sealed.
    const t0 = Date.now() - 2 * 3_600_000;
    const events = Array.from({ length: 120 }, (_, i) => ({
      id: `e${i}`,
      type: 'checkout_started',
      ts: t0 + i * 60_000,
      entity: `c${i}`,
      attrs: { platform: i % 2 ? 'ios' : 'web' },
    }));
    const r = await fetch(`${d.httpUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(await r.json()).toMatchObject({ accepted: 120 });
    const checkout = d.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    const q = { funnel: checkout, from: t0 - 60_000, to: t0 + 121 * 60_000 };
    const before = await d.windows.stepTotals(q);
    const beforeDim = await windowQueries(d.windows).dimensionVolume({ ...q, dimension: 'platform' });

    await d.ticker.runOnce();

    const metrics = await (await fetch(`${d.httpUrl}/metrics`)).text();
    const moved = Number(metrics.match(/^fw_compacted_buckets_total\{funnel="checkout"\} (\d+)/m)?.[1] ?? 0);
    expect(moved).toBeGreaterThan(60);
    expect(await d.windows.stepTotals(q)).toEqual(before);
    expect(await windowQueries(d.windows).dimensionVolume({ ...q, dimension: 'platform' })).toEqual(beforeDim);
    expect(before.volume[0]).toBe(120);
    expect(metrics).toMatch(/^fw_tick_task_seconds_count\{task="compact"\} 1$/m);
  });
});
