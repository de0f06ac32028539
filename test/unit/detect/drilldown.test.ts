import { describe, expect, it } from 'vitest';
import { drilldown } from '../../../src/detect/drilldown.js';
import { prometheusRatioCondition, twoSigmaCondition } from '../../../src/detect/reference-rules.js';

describe('drilldown', () => {
  it('names the failing value with its share of the deficit', () => {
    const r = drilldown({
      dimension: 'payment_provider',
      segments: [
        { value: 'adyen', current: { starts: 5000, conversions: 3000 }, baselineRate: 0.6, baselineStarts: 50_000 },
        // −50 %
        { value: 'stripe', current: { starts: 3000, conversions: 900 }, baselineRate: 0.6, baselineStarts: 30_000 },
        { value: 'paypal', current: { starts: 2000, conversions: 1195 }, baselineRate: 0.6, baselineStarts: 20_000 },
      ],
    });
    expect(r.classification).toBe('localised');
    expect(r.top[0]!.value).toBe('stripe');
    expect(r.top[0]!.deficitShare).toBeGreaterThan(0.95);
    expect(r.top[0]!.rateChanged).toBe(true);
    expect(r.noSingleSegment).toBe(false);
    expect(r.summary).toMatch(/stripe/);
  });

  it('says no single segment explains a uniform drop', () => {
    const r = drilldown({
      dimension: 'platform',
      segments: ['web', 'ios', 'android'].map((v, i) => ({
        value: v,
        current: { starts: 3000 + 1000 * i, conversions: Math.round((3000 + 1000 * i) * 0.6 * 0.9) },
        baselineRate: 0.6,
      })),
    });
    expect(r.classification).toBe('global');
    expect(r.noSingleSegment).toBe(true);
    expect(r.top).toEqual([]);
    expect(r.summary).toMatch(/no single segment/);
  });

  it('reports a pure mix shift (rates steady, traffic share moved) as such', () => {
    const r = drilldown({
      dimension: 'source',
      segments: [
        { value: 'organic', current: { starts: 6000, conversions: 3600 }, baselineRate: 0.6, baselineStarts: 95_000 },
        { value: 'campaign', current: { starts: 4000, conversions: 1200 }, baselineRate: 0.3, baselineStarts: 5_000 },
      ],
    });
    expect(r.classification).toBe('mix-shift');
    expect(r.mixEffect!).toBeLessThan(-0.08);
    expect(Math.abs(r.rateEffect!)).toBeLessThan(0.002);
    expect(r.segments.find((s) => s.value === 'campaign')!.shareMoved).toBe(true);
    expect(r.segments.every((s) => !s.rateChanged)).toBe(true);
  });

  it('ranks by missing orders, not by the relative drop of a tiny value', () => {
    const r = drilldown({
      dimension: 'country',
      segments: [
        { value: 'US', current: { starts: 10_000, conversions: 5000 }, baselineRate: 0.6 }, // −1,000 orders
        { value: 'LU', current: { starts: 20, conversions: 0 }, baselineRate: 0.6 },
      ],
    });
    expect(r.segments[0]!.value).toBe('US');
  });
});

describe('reference rules', () => {
  it('prometheus-style: ratio below 0.95 × same time last week', () => {
    expect(prometheusRatioCondition({ starts: 10_000, conversions: 5600 }, { starts: 10_000, conversions: 6000 })).toBe(
      true,
    );
    expect(prometheusRatioCondition({ starts: 10_000, conversions: 5800 }, { starts: 10_000, conversions: 6000 })).toBe(
      false,
    );
    expect(prometheusRatioCondition({ starts: 0, conversions: 0 }, { starts: 10_000, conversions: 6000 })).toBeNull();
  });

  it('2 SD: below mean − 2·SD of the previous 5-minute windows', () => {
    const hist = [0.6, 0.61, 0.59, 0.6, 0.62, 0.58].map((r) => ({ starts: 5000, conversions: r * 5000 }));
    expect(twoSigmaCondition({ starts: 5000, conversions: 2800 }, hist)).toBe(true);
    expect(twoSigmaCondition({ starts: 5000, conversions: 2950 }, hist)).toBe(false);
    expect(twoSigmaCondition({ starts: 5000, conversions: 2800 }, hist.slice(0, 2))).toBeNull();
  });
});
