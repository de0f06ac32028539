import { describe, expect, it } from 'vitest';
import type { FwEvent } from '../../../src/events/event.js';
import { FUNNEL_DEFAULTS, type FunnelDef } from '../../../src/funnels/funnel.js';
import { UnmatchedFilters, filterText } from '../../../src/ingest/unmatched.js';

const FUNNEL: FunnelDef = {
  ...FUNNEL_DEFAULTS,
  retention: { ...FUNNEL_DEFAULTS.retention },
  name: 'checkout',
  entityField: 'entity',
  conversionWindowMs: 30 * 60_000,
  services: [],
  steps: [
    { name: 'started', event: 'checkout_started' },
    { name: 'completed', event: 'order_completed', where: { status: ['paid'], test: ['false', '0'] } },
  ],
  dimensions: [],
};

const T = Date.UTC(2026, 0, 5, 12);
const ev = (i: number, attrs: Record<string, string>): FwEvent =>
  ({ id: `e${i}`, type: 'order_completed', ts: T, entity: `c${i}`, attrs }) as FwEvent;

describe('UnmatchedFilters', () => {
  it('reports a step once under 1 % of its events pass, with a bounded sample of the values turned away', () => {
    const u = new UnmatchedFilters({ sampleValues: 2 });
    const events = Array.from({ length: 200 }, (_, i) =>
      ev(i, i === 0 ? { status: 'paid', test: 'false' } : { status: ['ok', 'done', 'fine'][i % 3]!, test: 'false' }),
    );
    u.observe(events, [FUNNEL], T);
    const [r] = u.reports(T);
    expect(r).toMatchObject({ funnel: 'checkout', step: 'completed', filter: 'status=paid, test=(false|0)' });
    expect(r).toMatchObject({ seen: 200, matched: 1 });
    // Two values kept per attribute, whatever else came.
    expect(Object.keys(r!.sample.status!)).toHaveLength(2);
    expect(r!.sample.test).toEqual({ false: 199 });
    // 3 of 200 pass: 1.5 %, not reported.
    const v = new UnmatchedFilters();
    v.observe(
      events.map((e, i) => (i < 3 ? ev(i, { status: 'paid', test: '0' }) : e)),
      [FUNNEL],
      T,
    );
    expect(v.reports(T)).toEqual([]);
  });

  it('needs 20 events, forgets minutes older than 5, and counts from the start for totals', () => {
    const u = new UnmatchedFilters();
    u.observe(
      Array.from({ length: 19 }, (_, i) => ev(i, { status: 'x' })),
      [FUNNEL],
      T,
    );
    expect(u.reports(T)).toEqual([]);
    u.observe([ev(19, {})], [FUNNEL], T + 4 * 60_000);
    expect(u.reports(T + 4 * 60_000).map((r) => r.sample)).toEqual([
      { status: { x: 19, '(absent)': 1 }, test: { '(absent)': 20 } },
    ]);
    // The minute of the first 19 has left the span; the 20th is still in it, and none passed so far.
    expect(
      u
        .reports(T + 5 * 60_000)
        .map((r) => r.text.endsWith('so far (values seen: status=x ×19, status=(absent) ×1, test=(absent) ×20)')),
    ).toEqual([true]);
    // No event of the type in the span: nothing to report.
    expect(u.reports(T + 9 * 60_000)).toEqual([]);
    expect(u.totals().map((r) => [r.seen, r.matched])).toEqual([[20, 0]]);
  });

  it('reports a quiet step (2 events a minute) once 20 have arrived, none passing, from the counts so far', () => {
    const u = new UnmatchedFilters();
    for (let m = 0; m < 10; m++) {
      u.observe([ev(2 * m, { status: 'ok' }), ev(2 * m + 1, { status: 'ok' })], [FUNNEL], T + m * 60_000);
      if (m < 9) expect(u.reports(T + m * 60_000)).toEqual([]);
    }
    const [r] = u.reports(T + 9 * 60_000);
    expect(r!.text).toBe(
      'funnel checkout, step completed: its filter where status=paid, test=(false|0) matched 0 of 20 ' +
        'order_completed events so far (values seen: status=ok ×20, test=(absent) ×20)',
    );
    // One passing event in the span: the step is seen to work, nothing reported.
    u.observe([ev(99, { status: 'paid', test: '0' })], [FUNNEL], T + 10 * 60_000);
    expect(u.reports(T + 10 * 60_000)).toEqual([]);
  });

  it('ignores synthetic events and steps without a filter; lists unused types, bounded', () => {
    const u = new UnmatchedFilters();
    u.observe(
      Array.from({ length: 30 }, (_, i) => ev(i, { status: 'x', synthetic: 'true' })),
      [FUNNEL],
      T,
    );
    expect(u.totals()).toEqual([]);
    u.observeUnused(new Map([['page_view', 5]]));
    u.observeUnused(new Map(Array.from({ length: 60 }, (_, i) => [`t${i}`, 1] as const)));
    const types = u.unusedTypes();
    expect(types[0]).toEqual({ type: 'page_view', count: 5 });
    expect(types).toHaveLength(51);
    expect(types[50]).toEqual({ type: '(other types)', count: 11 });
    expect(filterText({ a: ['1'], b: ['2', '3'] })).toBe('a=1, b=(2|3)');
  });
});
