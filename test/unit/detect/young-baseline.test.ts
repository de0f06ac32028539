/**
 * A young install (issue 20, bugs found on held-out streams): the payment-success rule (a ratio, `trailing: 30m`)
 * paged 70–80 minutes after the first data in 4 of 7 generated streams with no incident in them. Its baseline then
 * rests on the 10–20 minutes of data its window holds, and the noise fit (which needs two hours of residuals) had
 * nothing yet, so the detector allowed for binomial noise only: the stream's ordinary wobble read as a drop.
 */
import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/detect/evaluate-rule.js';
import { RuleMemory } from '../../../src/detect/rule-look.js';
import { MapSeriesReader } from '../../../src/detect/series-reader.js';
import type { BucketCounts } from '../../../src/windows/window-store.js';
import { testFunnel, testRule } from '../../support/engine-fixtures.js';

const MIN = 60_000;
const T = 1000 * 60 * MIN;
const MINUTES = 240;

/** 300 payments a minute completing at 0.75 ± a 1.5 pp minute-to-minute wobble and a 1 pp AR(1) (30 min) one. */
function stream(seed: number): MapSeriesReader {
  let s = seed * 7919;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const normal = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const rho = Math.exp(-1 / 30);
  const fine = new Map<number, BucketCounts>();
  let slow = 0.01 * normal();
  for (let k = 0; k < MINUTES; k++) {
    slow = rho * slow + Math.sqrt(1 - rho * rho) * 0.01 * normal();
    const p = 0.75 + 0.015 * normal() + slow;
    const n = 300;
    const c = Math.round(n * p + Math.sqrt(n * p * (1 - p)) * normal());
    const t = T + k * MIN;
    fine.set(t, { start: t, widthMs: MIN, volume: [400, n, c], cohort: [400, n, c], dims: {}, durations: {} });
  }
  return new MapSeriesReader(MIN, 15 * MIN, fine, new Map());
}

const rule = testRule({
  name: 'payment-success',
  metric: { kind: 'ratio_conversion', from: 'payment', to: 'completed' },
  baseline: { kind: 'trailing', windowMs: 30 * MIN },
  minChange: 0.1,
  minVolume: 100,
  resolveAfterMs: 3 * MIN,
});

describe('a ratio rule in the first hours of an install', () => {
  it('does not page on the ordinary wobble while its baseline and noise rest on little data', () => {
    const breaches: string[] = [];
    for (let seed = 1; seed <= 7; seed++) {
      const reader = stream(seed);
      const memory = new RuleMemory();
      for (let m = 61; m <= MINUTES; m++) {
        const r = evaluateRule({ rule, funnel: testFunnel(), reader, evalTo: T + m * MIN, memory })[0]!;
        if (r.detection.state === 'breach') breaches.push(`seed ${seed} minute ${m}`);
      }
    }
    expect(breaches).toEqual([]);
  });
});
