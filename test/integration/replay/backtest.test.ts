/**
 * Backtest over history a "daemon" wrote under a live prefix (events applied and compacted minute by minute, a lease
 * held): the rule must find the injected outage and print fired, resolved and pages per week; an edited copy of the
 * rule given as a file must replace the live one; and nothing under the live prefix may change.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ManualClock } from '../../../src/core/clock.js';
import { RedisWindowStore } from '../../../src/windows/redis-window-store.js';
import { LeaderLease } from '../../../src/engine/lease.js';
import { loadRuleDir } from '../../../src/rules/loader.js';
import { runBacktest } from '../../../src/replay/backtest.js';
import { redisClient, redisUrl, uniquePrefix } from '../../support/env.js';
import { DROP_AT, MIN, MINUTES, RECOVER_AT, T0, shopMinutes, tempDir, writeRules } from './fixture.js';

let rulesDir: string;
let live: string;

/** Every key under the prefix with a dump of its value, to show they are untouched. */
async function snapshot(redis: Redis, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) out.set(k, (await redis.dumpBuffer(k))?.toString('base64') ?? '');
  } while (cursor !== '0');
  return out;
}

beforeAll(async () => {
  rulesDir = writeRules(tempDir('backtest-rules'));
  live = uniquePrefix();
  // redisClient() closes after a test; this one is for the hook only.
  const redis = new Redis(redisUrl());
  const loaded = await loadRuleDir(rulesDir);
  if (!loaded.ok) throw new Error('rules');
  const funnel = loaded.ruleSet.funnels[0]!;
  const types = new Set(funnel.steps.map((s) => s.event));
  const store = new RedisWindowStore({ redis, prefix: live });
  let offset = 0;
  for (const [k, all] of shopMinutes().entries()) {
    const events = all.filter((e) => types.has(e.type));
    await store.applyBatch({
      funnel,
      partition: '0',
      firstOffset: offset,
      lastOffset: offset + events.length - 1,
      events,
      now: T0 + (k + 1) * MIN,
    });
    offset += events.length;
    await store.compact(funnel);
  }
  // The live daemon's lease, so the live {alerts} keys exist and can be seen to stay as they are.
  await new LeaderLease({
    redis,
    prefix: live,
    owner: 'daemon',
    ttlMs: 3_600_000,
    clock: new ManualClock(T0),
  }).tryAcquire();
  redis.disconnect();
}, 120_000);

describe('backtest', () => {
  it(
    'finds the outage in the live history, ' +
      'prints fired, resolved and pages per week, and leaves the live keys alone',
    async () => {
      const redis = redisClient();
      const before = await snapshot(redis, live);
      expect([...before.keys()].some((k) => k.includes('{alerts}'))).toBe(true);
      const lines: string[] = [];
      const res = await runBacktest({
        redisUrl: redisUrl(),
        prefix: live,
        rulesDir,
        rule: 'payment-success-drop',
        sinceMs: 3 * 3_600_000,
        now: T0 + MINUTES * MIN,
        out: (l) => void lines.push(l),
      });
      const text = lines.join('\n');
      const adyen = res.incidents.find((i) => i.segment === 'payment_provider=adyen');
      expect(adyen, text).toBeDefined();
      expect((adyen!.firedAt - T0) / MIN).toBeGreaterThanOrEqual(DROP_AT);
      expect((adyen!.firedAt - T0) / MIN).toBeLessThanOrEqual(DROP_AT + 10);
      expect((adyen!.resolvedAt! - T0) / MIN).toBeGreaterThan(RECOVER_AT);
      expect(text).toMatch(/fired\s+\S+\s+payment_provider=adyen/);
      expect(text).toMatch(/resolved\s+\S+\s+payment_provider=adyen\s+after \d+ min/);
      expect(text).toMatch(/\d+ pages? in .*: [\d.]+ per week/);
      // Per week of the span with data: the 20 minutes before the history are not counted.
      expect(res.dataFrom).toBe(T0);
      expect(res.pagesPerWeek).toBeCloseTo(res.pages / ((res.to - T0) / (7 * 86_400_000)), 6);
      expect(await snapshot(redis, live)).toEqual(before);
      const [, privateLeft] = await redis.scan('0', 'MATCH', 'fw-backtest-*', 'COUNT', 100_000);
      expect(privateLeft).toEqual([]);
    },
    120_000,
  );

  it('tries an edited rule from a file in place of the live one of the same name', async () => {
    const file = join(tempDir('backtest-edit'), 'edited.yaml');
    const edited = (severity: string) =>
      [
        'funnel: checkout',
        'rules:',
        '  - name: payment-success-drop',
        '    metric: { ratio_conversion: { from: payment, to: completed } }',
        '    drop: 10%',
        '    baseline: { trailing: 30m }',
        '    min_volume: 100000',
        '    segments: [payment_provider]',
        '    notify: [console]',
        severity,
        '',
      ].join('\n');
    // An invalid edit is reported at its place in the file.
    writeFileSync(file, edited(''));
    await expect(
      runBacktest({
        redisUrl: redisUrl(),
        prefix: live,
        rulesDir,
        rule: 'payment-success-drop',
        ruleFile: file,
        sinceMs: 3_600_000,
        out: () => {},
      }),
    ).rejects.toThrow(/edited\.yaml:3:5: .*severity/);
    writeFileSync(file, edited('    severity: warning'));
    const lines: string[] = [];
    const res = await runBacktest({
      redisUrl: redisUrl(),
      prefix: live,
      rulesDir,
      rule: 'payment-success-drop',
      ruleFile: file,
      sinceMs: 3 * 3_600_000,
      now: T0 + MINUTES * MIN,
      out: (l) => void lines.push(l),
    });
    // The edit asks for far more volume than the shop has: it would not have paged.
    expect(res.pages, lines.join('\n')).toBe(0);
    expect(lines.join('\n')).toMatch(/0 pages in .*: 0\.0 per week/);
  }, 120_000);

  it('says how much of a long range has data, where it starts, and scans only from there', async () => {
    const lines: string[] = [];
    const res = await runBacktest({
      redisUrl: redisUrl(),
      prefix: live,
      rulesDir,
      rule: 'payment-success-drop',
      sinceMs: 4 * 86_400_000,
      now: T0 + MINUTES * MIN,
      out: (l) => void lines.push(l),
    });
    const text = lines.join('\n');
    // Asked 4 days; fine buckets reach back 3 days before the newest event; the history holds its last 160 minutes.
    const asked = (res.to - res.from) / MIN;
    expect(asked).toBeGreaterThan(3 * 1440);
    expect(res.dataFrom).toBe(T0);
    expect(res.dataMinutes).toBe(MINUTES);
    expect(res.minutes, text).toBe((res.to - T0) / MIN);
    expect(text).toContain(
      `  data: ${MINUTES} of its ${asked} minutes hold events (${((100 * MINUTES) / asked).toFixed(1)} %), ` +
        `the first at ${new Date(T0).toISOString()}; the 2.9 days before it hold none and are not scanned`,
    );
    expect(res.incidents.some((i) => i.segment === 'payment_provider=adyen')).toBe(true);
  }, 120_000);

  it('skips a gap of over 4 hours without events instead of evaluating it minute by minute', async () => {
    const redis = redisClient();
    const prefix = uniquePrefix();
    const loaded = await loadRuleDir(rulesDir);
    if (!loaded.ok) throw new Error('rules');
    const funnel = loaded.ruleSet.funnels[0]!;
    const types = new Set(funnel.steps.map((st) => st.event));
    const store = new RedisWindowStore({ redis, prefix });
    const GAP = 6 * 60; // minutes from the first chunk's start to the second's
    const chunk = shopMinutes({ minutes: 40, drop: false }).map((m) => m.filter((e) => types.has(e.type)));
    let offset = 0;
    for (const shift of [0, GAP]) {
      for (const [k, all] of chunk.entries()) {
        const events = all.map((e) => ({
          ...e,
          id: `${e.id}-${shift}`,
          entity: `${e.entity}-${shift}`,
          ts: e.ts + shift * MIN,
        }));
        await store.applyBatch({
          funnel,
          partition: '0',
          firstOffset: offset,
          lastOffset: offset + events.length - 1,
          events,
          now: T0 + (shift + k + 1) * MIN,
        });
        offset += events.length;
        await store.compact(funnel);
      }
    }
    const lines: string[] = [];
    const res = await runBacktest({
      redisUrl: redisUrl(),
      prefix,
      rulesDir,
      rule: 'payment-success-drop',
      sinceMs: 8 * 3_600_000,
      now: T0 + (GAP + 40) * MIN,
      out: (l) => void lines.push(l),
    });
    const text = lines.join('\n');
    // Skipped: from 241 minutes after the first chunk's last minute up to the second chunk.
    const skipped = GAP - (39 + 241);
    expect(res.dataFrom).toBe(T0);
    expect(res.dataMinutes).toBe(80);
    expect(res.minutes, text).toBe((res.to - T0) / MIN - skipped);
    expect(text).toContain(`; ${(skipped / 60).toFixed(1)} h in gaps of over 4 h are skipped`);
  }, 120_000);

  it('says so when the range holds no events', async () => {
    await expect(
      runBacktest({
        redisUrl: redisUrl(),
        prefix: live,
        rulesDir,
        rule: 'payment-success-drop',
        sinceMs: 3_600_000,
        // Four hours after the history: the newest event is older than the range asked.
        now: T0 + (MINUTES + 240) * MIN,
        out: () => {},
      }),
    ).rejects.toThrow(/no (events|history) of checkout/);
  });

  it('says so when the prefix holds no data', async () => {
    await expect(
      runBacktest({
        redisUrl: redisUrl(),
        prefix: uniquePrefix(),
        rulesDir,
        rule: 'payment-success-drop',
        sinceMs: 3_600_000,
        out: () => {},
      }),
    ).rejects.toThrow(/no data for funnel checkout under prefix/);
  });
});
