import { describe, expect, it } from 'vitest';
import { MapSeriesReader } from '../../../src/detect/series-reader.js';
import { RuleMemory, type SeriesResult } from '../../../src/detect/rule-look.js';
import type { ExplainLook } from '../../../src/engine/evaluator.js';
import { explainRule, renderExplanation } from '../../../src/engine/rule-explain.js';
import { alertKey } from '../../../src/model/alert-key.js';
import type { AlertState } from '../../../src/model/alert-state.js';
import { testFunnel, testRule } from '../../support/engine-fixtures.js';

const MIN = 60_000;
const T = Date.UTC(2026, 0, 5, 12);
const funnel = testFunnel({
  dimensions: [
    { name: 'platform', maxValues: 10 },
    { name: 'provider', maxValues: 10 },
  ],
});
const rule = testRule({ segments: ['platform', 'provider'], notify: ['pager'] });

function result(segment: SeriesResult['segment'], over: Partial<SeriesResult['detection']> = {}): SeriesResult {
  return {
    rule: rule.name,
    segment,
    detection: {
      state: 'breach',
      statistic: 6.2,
      threshold: 4.05,
      pValue: 3e-10,
      chanceRatePerWeek: 0.001,
      observedRate: 0.45,
      expectedRate: 0.6,
      relativeChange: 0.25,
      observed: 270,
      expected: 360,
      volume: 600,
      windowMinutes: 8,
      onsetIndex: 230,
      onsetStepsAgo: 10,
      ...over,
    },
    baseline: { kind: 'trailing' },
    noise: { tau2: 1e-4 },
    onset: T - 10 * MIN,
    unlearnedYoung: 0,
    recent: { relativeChange: 0.25, buckets: 5, expected: 100 },
  };
}

function state(segment: AlertState['segment'], over: Partial<AlertState> = {}): AlertState {
  return { rule: rule.name, segment, status: 'firing', since: T - 5 * MIN, seq: 2, lastEvaluated: T, ...over };
}

describe('explainRule', () => {
  it('says a breach in numbers and names the segment alert that inhibits another at its receivers', () => {
    const ios = { dimension: 'platform', value: 'ios' };
    const stripe = { dimension: 'provider', value: 'stripe' };
    const states = new Map<string, AlertState>([
      [
        alertKey(rule.name, ios),
        state(ios, {
          context: {
            drilldown: {
              classification: 'localised',
              summary: 'provider=stripe carries 95% of the deficit',
              dimensions: [
                {
                  dimension: 'provider',
                  top: [{ value: 'stripe', expected: 300, observed: 200, deficitShare: 0.95, rateChanged: true }],
                },
              ],
            },
          },
        }),
      ],
      [alertKey(rule.name, stripe), state(stripe)],
    ]);
    const look: ExplainLook = {
      rule,
      funnel,
      now: T,
      watermark: T - 20_000,
      evalTo: T - MIN,
      states,
      guards: {
        data_stale: { active: false, detail: 'watermark 20 s behind', observed: 0, expected: 0 },
        no_traffic: { active: false, detail: '', observed: 0, expected: 0 },
      },
      look: {
        rule,
        funnel,
        reader: new MapSeriesReader(MIN, 15 * MIN, new Map(), new Map()),
        evalTo: T - MIN,
        memory: new RuleMemory(),
      },
      series: [
        { result: result(ios), condition: 'breach', state: states.get(alertKey(rule.name, ios))! },
        { result: result(stripe), condition: 'breach', state: states.get(alertKey(rule.name, stripe))! },
      ],
    };
    const e = explainRule({ look, silences: [] });
    expect(e.data).toEqual({
      watermark: new Date(T - 20_000).toISOString(),
      ageSeconds: 20,
      stale: false,
      noTraffic: false,
      detail: 'newest event applied 20 s ago',
    });
    const [a, b] = e.series;
    expect(a!.inhibitedBy).toEqual({ alert: alertKey(rule.name, stripe) });
    expect(a!.reasons.map((r) => r.code)).toEqual(['inhibited', 'breach']);
    expect(a!.summary).toBe(
      'inhibited at its receivers: the drill-down places the deficit in provider=stripe, whose alert fires and pages',
    );
    expect(b!.inhibitedBy).toBeNull();
    expect(b!.summary).toBe(
      'breach: 45.0 % observed vs 60.0 % expected over the 8-minute window (−25.0 %); ' +
        'statistic 6.20 ≥ its threshold 4.05',
    );
    expect(b!.now).toMatchObject({ statistic: 6.2, threshold: 4.05, observedRate: 0.45, expectedRate: 0.6 });
    // No traffic in the reader: nothing to compute the detectable changes from.
    expect(b!.detectable).toEqual([
      { withinMinutes: 15, change: null, windowMinutes: null },
      { withinMinutes: 60, change: null, windowMinutes: null },
      { withinMinutes: 240, change: null, windowMinutes: null },
    ]);
    // --segment narrows to one series.
    expect(explainRule({ look, silences: [], segment: stripe }).series.map((s) => s.label)).toEqual([
      'provider=stripe',
    ]);
    const text = renderExplanation(e);
    expect(text[0]).toBe(
      'rule r (funnel checkout): ratio completed / started, pages on a drop of 10 % or more, min_volume 10, ' +
        '1 false alarm(s)/week',
    );
    expect(text).toContain(`platform=ios: firing since ${new Date(T - 5 * MIN).toISOString()} — ${a!.summary}`);
  });

  it('names young cohorts left out and a baseline without history', () => {
    const r = result(null, { state: 'insufficient', reason: 'no baseline: no mature history for this series yet' });
    r.unlearnedYoung = 3;
    const look: ExplainLook = {
      rule,
      funnel,
      now: T,
      watermark: T,
      evalTo: T,
      states: new Map(),
      series: [{ result: r, condition: 'insufficient' }],
    };
    const [s] = explainRule({ look, silences: [] }).series;
    expect(s!.status).toBe('inactive');
    expect(s!.reasons.map((x) => x.code)).toEqual(['no_baseline', 'young_cohorts']);
    expect(s!.now).toBeNull();
  });
});
