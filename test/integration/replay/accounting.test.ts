/**
 * Replay accounts for every line it reads: a shop stream with one line of each kind planted in it (blank, broken
 * JSON, a 1970 timestamp, a microsecond one, one after today, a line 40 days behind the stream, out of range, of
 * no funnel, turned away by a step's `where`, a duplicate, without entity, later than the allowed lateness) must
 * come out with each counted where it belongs, and the counts must add up to the lines read.
 */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runReplay, formatReplaySummary } from '../../../src/replay/replay.js';
import { redisUrl } from '../../support/env.js';
import { MIN, T0, shopMinutes, tempDir, writeRules } from './fixture.js';

describe('replay accounting', () => {
  it('counts every line once, by what became of it, and the counts add up to the lines read', async () => {
    const minutes = shopMinutes({ minutes: 30, drop: false });
    const events = minutes.flat();
    const lines = events.map((e) => JSON.stringify(e));
    const at = (k: number) => T0 + k * MIN;
    const paid = events.find((e) => e.type === 'order_completed')!;
    const started = events.find((e) => e.type === 'checkout_started' && e.ts > at(5))!;
    const planted = [
      '',
      '   ',
      '{"type": "checkout_started", ',
      JSON.stringify({ type: 'checkout_started', ts: '1970-01-01T00:27:41Z', entity: 'truncated' }),
      JSON.stringify({ type: 'checkout_started', ts: at(20) * 1000, entity: 'micros' }), // past year 3000
      JSON.stringify({ type: 'checkout_started', ts: Date.now() + 3_600_000, entity: 'ahead' }), // after today
      JSON.stringify({ type: 'checkout_started', ts: at(20) - 40 * 86_400_000, entity: 'old' }),
      JSON.stringify({ ...paid, id: 'refused', ts: at(20), attrs: { ...paid.attrs, status: 'refused' } }),
      JSON.stringify({ ...started, id: 'again', ts: at(20) }), // the same entity enters again while open
      JSON.stringify({ type: 'checkout_started', ts: at(20) }), // no entity
      JSON.stringify({ type: 'checkout_started', ts: at(2), entity: 'late-entry' }), // 18 min behind the stream
    ];
    // After minute 20's events, so "behind the stream" and "duplicate" mean what they say.
    const cut = events.findIndex((e) => e.ts >= at(21));
    const all = [...lines.slice(0, cut), ...planted, ...lines.slice(cut)];
    const dir = tempDir('replay-accounting');
    const file = join(dir, 'events.ndjson');
    writeFileSync(file, `${all.join('\n')}\n`);
    const rulesDir = writeRules(tempDir('replay-accounting-rules'));

    const s = await runReplay({
      events: [file],
      rulesDir,
      redisUrl: redisUrl(),
      from: at(1),
      out: () => undefined,
    });
    const text = formatReplaySummary(s);
    const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);

    expect(s.linesRead, text).toBe(all.length);
    expect(s.blankLines).toBe(2);
    expect(s.rejected).toEqual({
      invalid_json: 1,
      implausible_timestamp: 1,
      invalid_timestamp: 1,
      future_timestamp: 1,
      too_old: 1,
    });
    const firstMinute = events.filter((e) => e.ts < at(1)).length;
    expect(s.outsideRange).toBe(firstMinute);
    expect(s.linesRead).toBe(s.blankLines + rejected + s.outsideRange + s.eventsAccepted);
    expect(s.eventsAccepted).toBe(s.eventsIgnored + s.eventsToFunnels);
    const signups = events.filter(
      (e) => e.ts >= at(1) && !['checkout_started', 'payment_submitted', 'order_completed'].includes(e.type),
    );
    expect(s.eventsIgnored).toBe(signups.length);

    const c = s.funnels.checkout!;
    expect(c.lines).toBe(s.eventsToFunnels);
    expect(c.lines, text).toBe(c.used + c.filtered + c.duplicate + c.late + c.noEntity);
    expect(c.used).toBe(c.entries + c.steps + c.noEntry + c.expired);
    expect(c.filtered).toBe(1);
    expect(c.noEntity).toBe(1);
    expect(c.duplicate).toBeGreaterThanOrEqual(1);
    expect(c.late).toBeGreaterThanOrEqual(1);

    expect(text).toContain(`lines read       ${s.linesRead.toLocaleString('en-US')}, every one accounted for:`);
    expect(text).toMatch(
      /rejected\s+5 \(future_timestamp 1, implausible_timestamp 1, invalid_json 1, invalid_timestamp 1, too_old 1\)/,
    );
    expect(text).toMatch(
      /checkout: [\d,]+ = used by a step [\d,]+ \(entries [\d,]+, steps [\d,]+.*\) \+ filtered out by a step's where 1 \+ duplicate \d+ \+ late \d+ \+ no entity 1/,
    );
  }, 120_000);
});
