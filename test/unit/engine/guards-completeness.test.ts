import { describe, expect, it } from 'vitest';
import { evaluateGuards } from '../../../src/engine/guards.js';
import { CompletenessTracker } from '../../../src/engine/completeness.js';
import { recentChange } from '../../../src/detect/recent-change.js';

const MIN = 60_000;

describe('data-quality guards', () => {
  const steady = Array.from({ length: 130 }, () => 100);
  it('a watermark standing still while traffic was expected is data_stale', () => {
    const g = evaluateGuards({
      now: 1_000 * MIN,
      watermark: 1_000 * MIN - 6 * MIN,
      bucketMs: MIN,
      entries: steady,
      staleAfterMs: 5 * MIN,
    });
    expect(g.data_stale.active).toBe(true);
    expect(g.data_stale.expected).toBeCloseTo(600);
    expect(g.data_stale.detail).toMatch(/no event applied for 360 s/);
  });
  it('a quiet funnel (a few entries an hour) is not stale after the same silence', () => {
    const quiet = Array.from({ length: 130 }, (_, i) => (i % 20 === 0 ? 1 : 0));
    const g = evaluateGuards({
      now: 1_000 * MIN,
      watermark: 1_000 * MIN - 6 * MIN,
      bucketMs: MIN,
      entries: quiet,
      staleAfterMs: 5 * MIN,
    });
    expect(g.data_stale.active).toBe(false);
  });
  it('within the threshold is not stale', () => {
    const g = evaluateGuards({
      now: 1_000 * MIN,
      watermark: 1_000 * MIN - 4 * MIN,
      bucketMs: MIN,
      entries: steady,
      staleAfterMs: 5 * MIN,
    });
    expect(g.data_stale.active).toBe(false);
  });
  it('entries collapsing below a tenth of the two hours before is no_traffic; a halving is not', () => {
    const collapsed = [...steady.slice(0, 120), ...Array.from({ length: 10 }, () => 5)];
    expect(
      evaluateGuards({ now: 0, watermark: 0, bucketMs: MIN, entries: collapsed, staleAfterMs: 5 * MIN }).no_traffic,
    ).toMatchObject({ active: true, observed: 50, expected: 1000 });
    const halved = [...steady.slice(0, 120), ...Array.from({ length: 10 }, () => 50)];
    expect(
      evaluateGuards({ now: 0, watermark: 0, bucketMs: MIN, entries: halved, staleAfterMs: 5 * MIN }).no_traffic.active,
    ).toBe(false);
  });
  it('nothing applied yet is neither stale nor a collapse', () => {
    const g = evaluateGuards({ now: 0, watermark: undefined, bucketMs: MIN, entries: [], staleAfterMs: 5 * MIN });
    expect(g.data_stale.active).toBe(false);
    expect(g.no_traffic.active).toBe(false);
  });
});

describe('completeness tracker', () => {
  it('learns G(age) as the ratio of the rate seen at that age to the final rate', () => {
    const t = new CompletenessTracker({ maxAge: 5, matureAge: 4, minFinal: 100 });
    // Every cohort: 100 starts, 60 final conversions, of which 15 / 30 / 45 / 54 seen at ages 0..3.
    const seen = [15, 30, 45, 54];
    for (let b = 0; b < 50; b++) {
      for (let age = 0; age < 4; age++) t.observe(b, age, 100, seen[age]!);
      t.observe(b, 4, 100, 60);
    }
    const g = t.curve();
    expect(g[0]).toBeCloseTo(0.25, 10);
    expect(g[1]).toBeCloseTo(0.5, 10);
    expect(g[2]).toBeCloseTo(0.75, 10);
    expect(g[3]).toBeCloseTo(0.9, 10);
    expect(g[4]).toBe(1);
  });
  it('is unknown until enough final conversions back an age, and survives serialisation', () => {
    const t = new CompletenessTracker({ maxAge: 3, matureAge: 2, minFinal: 100 });
    t.observe(0, 0, 10, 2);
    t.observe(0, 2, 10, 5);
    expect(t.curve()[0]).toBeUndefined();
    for (let b = 1; b < 40; b++) {
      t.observe(b, 0, 10, 2);
      t.observe(b, 1, 10, 4);
      t.observe(b, 2, 10, 5);
    }
    const again = new CompletenessTracker(
      { maxAge: 3, matureAge: 2, minFinal: 100 },
      JSON.parse(JSON.stringify(t.toJSON())),
    );
    expect(again.curve()[0]).toBeCloseTo(0.4, 10);
    expect(again.curve()[1]).toBeCloseTo(0.8, 10);
  });
  it('is monotone in age even when noise says otherwise', () => {
    const t = new CompletenessTracker({ maxAge: 3, matureAge: 3, minFinal: 10 });
    for (let b = 0; b < 20; b++) {
      t.observe(b, 0, 100, 50);
      t.observe(b, 1, 100, 40);
      t.observe(b, 3, 100, 100);
    }
    expect(t.curve()[1]).toBeGreaterThanOrEqual(t.curve()[0]!);
  });
});

describe('recentChange', () => {
  it('takes the newest buckets until enough is expected', () => {
    const obs = Array.from({ length: 100 }, (_, i) => (i >= 90 ? 50 : 100));
    const exp = Array.from({ length: 100 }, () => 100);
    const r = recentChange(obs, exp, 'drop');
    expect(r.buckets).toBe(5);
    expect(r.relativeChange).toBeCloseTo(0.5, 10);
    expect(recentChange(obs, exp, 'increase').relativeChange).toBeCloseTo(-0.5, 10);
  });
  it('widens at low volume, up to an hour', () => {
    const r = recentChange(new Array(100).fill(1), new Array(100).fill(2), 'drop');
    expect(r.buckets).toBe(60);
    expect(r.relativeChange).toBeCloseTo(0.5, 10);
  });
});
