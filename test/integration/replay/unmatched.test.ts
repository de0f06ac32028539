/**
 * A replay whose order events say `status: succeeded` where the funnel's completed step wants `status: paid` (the
 * new user's story of issue 20): the summary names the step, its filter and the values seen; and events of a type
 * no funnel uses are listed by type.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatReplaySummary, runReplay } from '../../../src/replay/replay.js';
import { redisUrl } from '../../support/env.js';
import { shopMinutes, tempDir, writeRules } from './fixture.js';

async function replay(name: string, events: unknown[]) {
  const file = join(tempDir(name), 'events.ndjson');
  writeFileSync(file, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  const rulesDir = writeRules(tempDir(`${name}-rules`));
  return runReplay({ events: [file], rulesDir, redisUrl: redisUrl(), out: () => undefined });
}

describe('replay summary: unmatched step filters', () => {
  it('names a step whose where matched none of its events, with the values seen, and the unused types', async () => {
    const events = shopMinutes({ minutes: 15, drop: false, checkoutsPerMinute: 40 })
      .flat()
      .map((e) => (e.type === 'order_completed' ? { ...e, attrs: { ...e.attrs, status: 'succeeded' } } : e));
    const typo = events
      .filter((e) => e.type === 'checkout_started')
      .slice(0, 3)
      .map((e, i) => ({ ...e, id: `typo-${i}`, type: 'checkout_startd' }));
    const all = [...events, ...typo].sort((a, b) => a.ts - b.ts);
    const completed = events.filter((e) => e.type === 'order_completed').length;
    expect(completed).toBeGreaterThan(100);
    const s = await replay('replay-unmatched', all);
    const text = formatReplaySummary(s);
    expect(s.unmatched).toEqual([
      expect.objectContaining({ funnel: 'checkout', step: 'completed', filter: 'status=paid', matched: 0 }),
    ]);
    const n = completed.toLocaleString('en-US');
    expect(text).toContain(
      `  unmatched filter funnel checkout, step completed: its filter where status=paid matched 0 of ${n} ` +
        `order_completed events (values seen: status=succeeded ×${n})`,
    );
    expect(s.unusedTypes).toContainEqual({ type: 'checkout_startd', count: 3 });
    expect(text).toMatch(/of no funnel +[\d,]+ \(valid events of a type no funnel's step uses: .*checkout_startd 3/);
  }, 120_000);

  it('says nothing when every filtered step matches its events', async () => {
    const events = shopMinutes({ minutes: 10, drop: false, checkoutsPerMinute: 40 }).flat();
    const s = await replay('replay-matched', events);
    expect(s.unmatched).toEqual([]);
    expect(formatReplaySummary(s)).not.toContain('unmatched filter');
  }, 120_000);
});
