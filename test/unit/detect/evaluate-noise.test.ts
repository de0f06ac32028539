import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/detect/evaluate-rule.js';
import { RuleMemory } from '../../../src/detect/rule-look.js';
import type { BucketView, SegmentRef, SeriesReader } from '../../../src/detect/series-reader.js';
import type { AlertRuleDef } from '../../../src/rules/rule.js';
import { testFunnel, testRule } from '../../support/engine-fixtures.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const EVAL_TO = 1_000 * HOUR;

const funnel = testFunnel({
  steps: [
    { name: 'started', event: 'checkout_started' },
    { name: 'completed', event: 'order_completed' },
  ],
  dimensions: [{ name: 'source', maxValues: 10 }],
});

function rule(mixShift: 'ignore' | 'page'): AlertRuleDef {
  return testRule({
    name: `r-${mixShift}`,
    minChange: 0.05,
    minVolume: 100,
    severity: 'critical',
    segments: ['source'],
    mixShift,
  });
}

/** Deterministic standard normals by bucket (i ≤ 0) and salt, from one sequential generator. */
const NORMALS = (() => {
  let s = 12345;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return Array.from({ length: 3 * 2000 }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
})();
const normal = (i: number, salt: number) => NORMALS[(salt - 1) * 2000 - i]!;

/**
 * 1,000 regular starts a minute converting at 0.6 with a 0.9 pp wobble, and a campaign converting at half that:
 * 20 starts a minute, 350 during a two-hour surge that ended three hours before the look.
 */
function shop(): SeriesReader {
  const view = (i: number, seg: SegmentRef | null): BucketView => {
    const t = EVAL_TO + i * MIN;
    const wobble = 0.009 * normal(i, 1);
    const surge = t >= EVAL_TO - 5 * HOUR && t < EVAL_TO - 3 * HOUR;
    const reg = { s: 1000, c: Math.round(1000 * (0.6 + wobble) + Math.sqrt(240) * normal(i, 2)) };
    const cs = surge ? 350 : 20;
    const camp = { s: cs, c: Math.round(cs * (0.3 + wobble / 2) + Math.sqrt(cs * 0.21) * normal(i, 3)) };
    const pick = seg === null ? { s: reg.s + camp.s, c: reg.c + camp.c } : seg.value === 'campaign' ? camp : reg;
    return { volume: [pick.s, pick.c], cohort: [pick.s, pick.c] };
  };
  return {
    bucketMs: MIN,
    rollupMs: 15 * MIN,
    fine: (start, seg) => view((start - EVAL_TO) / MIN, seg),
    rollup: () => undefined,
    durations: () => undefined,
    values: () => ['regular', 'campaign'],
  };
}

describe('noise of a risk-adjusted funnel-wide series', () => {
  it('is measured around the segment-weighted expectation: a campaign surge is not fitted as slow noise', () => {
    const slow = (mixShift: 'ignore' | 'page') => {
      const r = evaluateRule({
        rule: rule(mixShift),
        funnel,
        reader: shop(),
        evalTo: EVAL_TO,
        memory: new RuleMemory(),
      })[0]!;
      expect(r.segment).toBeNull();
      return { slow: (r.noise.tau2Slow ?? 0) + (r.noise.tau2Persistent ?? 0), fast: r.noise.tau2 };
    };
    const adjusted = slow('ignore');
    // Without the adjustment (mix_shift: page) the surge's lower funnel-wide rate is in the residuals: ~1e-3, a
    // 3 pp "wobble" for hours. Adjusted, what is left is below the white wobble's own variance (8.1e-5).
    const page = slow('page');
    expect(page.slow).toBeGreaterThan(5e-4);
    expect(adjusted.slow).toBeLessThan(page.slow / 10);
    expect(adjusted.slow).toBeLessThan(5e-5);
    expect(Math.sqrt(adjusted.fast)).toBeGreaterThan(0.006);
    expect(Math.sqrt(adjusted.fast)).toBeLessThan(0.012);
  });
});
