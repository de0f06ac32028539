/**
 * step_volume rules on the seasonal history the window store returns (issue 20, bugs found on held-out streams).
 * The store answers a rollup range with every bucket in it, zero-filled where nothing was recorded, so a fresh
 * install's "past weeks" are present and empty. Before the fix:
 * - those empty weeks counted as history: the seasonal path ran on them, expected 0 a bucket, and the
 *   starts-collapse rule stayed "insufficient: no baseline volume yet" for four weeks, whatever the traffic;
 * - the seasonal volume was the slot's volume of step 0 whatever the rule's step, so a rule on payments compared
 *   them with the starts and saw a drop that is only the funnel's own conversion.
 */
import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/detect/evaluate-rule.js';
import { RuleMemory } from '../../../src/detect/rule-look.js';
import { MapSeriesReader } from '../../../src/detect/series-reader.js';
import type { BucketCounts } from '../../../src/windows/window-store.js';
import { testFunnel, testRule } from '../../support/engine-fixtures.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const WEEK = 7 * 24 * HOUR;
const ROLLUP = 15 * MIN;
const EVAL_TO = 3000 * WEEK;

const funnel = testFunnel();

function bucket(start: number, widthMs: number, starts: number, payments: number): BucketCounts {
  const done = Math.round(payments * 0.9);
  return {
    start,
    widthMs,
    volume: [starts, payments, done],
    cohort: [starts, payments, done],
    dims: {},
    durations: {},
  };
}

/**
 * 1,000 starts and 400 payments a minute (a little wobble) from `historyMs` before the look on; the rollups of the
 * past weeks around the look's time of day, zero-filled before the history began, as the window store returns them.
 */
function reader(historyMs: number): MapSeriesReader {
  const began = EVAL_TO - historyMs;
  const fine = new Map<number, BucketCounts>();
  for (let t = EVAL_TO - 20 * HOUR; t < EVAL_TO; t += MIN) {
    const w = t >= began ? 1 + 0.03 * Math.sin(t / (7 * MIN)) : 0;
    fine.set(t, bucket(t, MIN, Math.round(1000 * w), Math.round(400 * w)));
  }
  const rollups = new Map<number, BucketCounts>();
  for (let w = 1; w <= 4; w++) {
    for (let t = EVAL_TO - w * WEEK - 6 * HOUR; t < EVAL_TO - w * WEEK + 2 * HOUR; t += ROLLUP) {
      const k = t >= began ? 15 : 0;
      rollups.set(t, bucket(t, ROLLUP, 1000 * k, 400 * k));
    }
  }
  return new MapSeriesReader(MIN, ROLLUP, fine, rollups);
}

const volumeRule = (step: string) =>
  testRule({
    name: `${step}-collapse`,
    metric: { kind: 'step_volume', step },
    minChange: 0.3,
    baseline: { kind: 'seasonal', weeks: 4 },
    minVolume: 50,
  });

describe('step_volume rules and the seasonal history', () => {
  it.each([
    ['a day', 24 * HOUR],
    ['ten days', 10 * 24 * HOUR],
    ['three weeks', 21 * 24 * HOUR],
  ])('evaluate on an install with %s of history, on the trailing fallback', (_what, historyMs) => {
    const r = evaluateRule({
      rule: volumeRule('started'),
      funnel,
      reader: reader(historyMs),
      evalTo: EVAL_TO,
      memory: new RuleMemory(),
    })[0]!;
    expect(r.detection.reason).toBeUndefined();
    expect(r.detection.state).toBe('ok');
    expect(r.baseline.kind).toBe('trailing');
    expect(r.baseline.fallback).toMatch(/needs 4 week\(s\) of history, [0-3] available/);
    expect(r.detection.expectedRate).toBeGreaterThan(900);
  });

  it('expects the volume of the rule own step from the past weeks, not the first step', () => {
    const r = evaluateRule({
      rule: volumeRule('payment'),
      funnel,
      reader: reader(40 * 24 * HOUR),
      evalTo: EVAL_TO,
      memory: new RuleMemory(),
    })[0]!;
    expect(r.baseline).toMatchObject({ kind: 'seasonal', weeksUsed: 4 });
    expect(r.detection.state).toBe('ok');
    expect(r.detection.expectedRate).toBeCloseTo(400, -1);
    expect(Math.abs(r.detection.relativeChange)).toBeLessThan(0.05);
  });
});
