import { describe, it, expect, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { ManualClock } from '../../../src/core/clock.js';
import { redisUrl, uniquePrefix } from '../../support/env.js';

function gauge(metrics: string, name: string, funnel: string): number | undefined {
  const m = metrics.match(new RegExp(`^${name}\\{funnel="${funnel}"\\} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

describe('feed liveness on the metrics', () => {
  it('watermark and last-event ages keep growing on every tick after the events stop', async () => {
    const t0 = Date.UTC(2026, 0, 5, 12, 0, 0);
    const clock = new ManualClock(t0);
    const config = loadConfig({
      FW_REDIS_URL: redisUrl(),
      FW_REDIS_PREFIX: uniquePrefix(),
      FW_HTTP_PORT: '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_RULES_DIR: 'rules',
      FW_INSTANCE_ID: 'liveness',
    });
    const d = new Daemon({ config, logger: pino({ level: 'silent' }), clock });
    onTestFinished(() => d.stop());
    await d.start();
    // Events up to 30 s before the clock: the watermark is t0 - 30 s.
    const events = [0, 1, 2].map((i) => ({
      id: `e${i}`,
      type: 'checkout_started',
      ts: t0 - 90_000 + i * 30_000,
      entity: `c${i}`,
    }));
    const r = await fetch(`${d.httpUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(await r.json()).toMatchObject({ accepted: 3 });
    const read = async () => await (await fetch(`${d.httpUrl}/metrics`)).text();
    expect(gauge(await read(), 'fw_watermark_age_seconds', 'checkout')).toBe(30);

    // The feed dies; ticks go on.
    clock.advance(10 * 60_000);
    await d.ticker.runOnce();
    let m = await read();
    expect(gauge(m, 'fw_watermark_age_seconds', 'checkout')).toBe(630);
    expect(gauge(m, 'fw_last_event_age_seconds', 'checkout')).toBe(600);

    clock.advance(60_000);
    await d.ticker.runOnce();
    m = await read();
    expect(gauge(m, 'fw_watermark_age_seconds', 'checkout')).toBe(690);
    expect(gauge(m, 'fw_last_event_age_seconds', 'checkout')).toBe(660);
    // A funnel that never received anything shows its age since this replica started, growing too.
    expect(gauge(m, 'fw_last_event_age_seconds', 'signup')).toBe(660);
  });
});
