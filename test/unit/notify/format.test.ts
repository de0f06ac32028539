/**
 * The console line of an alert transition (formatTransitionLine) for each kind and metric, with odd evidence
 * (no rates, guards, no segment, no receivers), and the LogNotifier's structured log lines and console output.
 */
import { describe, it, expect } from 'vitest';
import { Writable } from 'node:stream';
import { formatTransitionLine, LogNotifier } from '../../../src/notify/log-notifier.js';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import type { Evidence } from '../../../src/model/evidence.js';
import { createLogger } from '../../../src/obs/logger.js';

const AT = Date.UTC(2025, 0, 6, 12, 8);
const ONSET = Date.UTC(2025, 0, 6, 12, 3);

function evidence(over: Partial<Evidence> = {}): Evidence {
  return {
    observed: 508,
    expected: 741.6,
    observedRate: 0.412,
    expectedRate: 0.601,
    relativeChange: 0.314,
    volume: 1234,
    windowMinutes: 15,
    statistic: 5.1,
    threshold: 3.2,
    pValue: 2e-7,
    chanceRatePerWeek: 0.01,
    onset: ONSET,
    evaluatedUpTo: AT,
    baseline: { kind: 'seasonal', weeksUsed: 4 },
    ...over,
  };
}

function transition(over: Partial<AlertTransition> = {}): AlertTransition {
  return {
    id: `checkout-conversion|platform=android@${AT}#2`,
    kind: 'firing',
    at: AT,
    rule: 'checkout-conversion',
    funnel: 'checkout',
    segment: { dimension: 'platform', value: 'android' },
    severity: 'critical',
    notify: ['#payments'],
    labels: {},
    incidentId: `checkout-conversion|platform=android@${AT}`,
    from: 'pending',
    to: 'firing',
    evidence: evidence(),
    ruleSetVersion: 'v1',
    ...over,
  };
}

describe('formatTransitionLine', () => {
  it('firing: rate against expected, signed change, volume and window, onset, severity and receivers', () => {
    expect(formatTransitionLine(transition())).toBe(
      'FIRING  checkout-conversion [platform=android]  conversion 41.2% vs expected 60.1% (−31%), ' +
        '1,234 checkouts in 15 min, since 12:03 UTC — critical → #payments',
    );
  });

  it('resolved, pending, insufficient and recovered_data', () => {
    const ok = evidence({ observedRate: 0.598, expectedRate: 0.601, relativeChange: 0.005, volume: 1240 });
    expect(
      formatTransitionLine(
        transition({ kind: 'resolved', from: 'firing', to: 'resolved', at: AT + 47 * 60_000, evidence: ok }),
      ),
    ).toBe(
      'RESOLVED checkout-conversion [platform=android]  conversion 59.8% vs expected 60.1% (−0.5%), ' +
        '1,240 checkouts in 15 min, at 12:55 UTC — critical → #payments',
    );
    expect(
      formatTransitionLine(
        transition({
          kind: 'pending',
          from: 'inactive',
          to: 'pending',
          segment: null,
          evidence: evidence({ onset: null }),
        }),
      ),
    ).toBe(
      'PENDING checkout-conversion  conversion 41.2% vs expected 60.1% (−31%), ' +
        '1,234 checkouts in 15 min, since 12:08 UTC — critical → #payments',
    );
    const thin = evidence({
      observedRate: NaN,
      expectedRate: NaN,
      observed: 0,
      expected: 0,
      volume: 12,
      windowMinutes: 0,
      reason: 'no window has min_volume starts',
    });
    expect(
      formatTransitionLine(
        transition({ kind: 'insufficient', from: 'inactive', to: 'insufficient', evidence: thin, notify: [] }),
      ),
    ).toBe('NO DATA checkout-conversion [platform=android]  12 checkouts, no window has min_volume starts — critical');
    expect(
      formatTransitionLine(
        transition({
          kind: 'recovered_data',
          from: 'insufficient',
          to: 'inactive',
          evidence: undefined,
          severity: 'info',
        }),
      ),
    ).toBe('DATA OK checkout-conversion [platform=android] — info → #payments');
  });

  it("a conversion measured from a later step counts arrivals there, not the funnel's entries", () => {
    expect(
      formatTransitionLine(transition({ metric: 'ratio_conversion', countedFrom: 'payment', segment: null })),
    ).toBe(
      'FIRING  checkout-conversion  conversion 41.2% vs expected 60.1% (−31%), ' +
        '1,234 reached payment in 15 min, since 12:03 UTC — critical → #payments',
    );
  });

  it('volume and duration rules speak of counts and of the share of slow steps', () => {
    const vol = evidence({
      observed: 812,
      expected: 1190,
      observedRate: 54.1,
      expectedRate: 79.3,
      volume: 812,
      windowMinutes: 60,
    });
    expect(
      formatTransitionLine(
        transition({ metric: 'step_volume', evidence: vol, segment: null, notify: ['#growth', 'pagerduty-web'] }),
      ),
    ).toBe(
      'FIRING  checkout-conversion  volume 812 vs expected 1,190 (−32%) in 1 h, ' +
        'since 12:03 UTC — critical → #growth, pagerduty-web',
    );
    const dur = evidence({ observedRate: 0.124, expectedRate: 0.05, volume: 3000, windowMinutes: 30 });
    expect(
      formatTransitionLine(transition({ metric: 'step_duration', evidence: dur, segment: null, severity: 'warning' })),
    ).toBe(
      'FIRING  checkout-conversion  slow share 12.4% vs expected 5.0% (+148%), ' +
        '3,000 checkouts in 30 min, since 12:03 UTC — warning → #payments',
    );
  });

  it('a data guard says which and why; counts stand in when there are no rates', () => {
    const stale = evidence({
      guard: 'data_stale',
      reason: 'no events for 12 min',
      observedRate: NaN,
      expectedRate: NaN,
      observed: 0,
      expected: 410,
      volume: 0,
      windowMinutes: 0,
    });
    expect(
      formatTransitionLine(
        transition({ rule: 'checkout/data_stale', segment: null, evidence: stale, severity: 'warning' }),
      ),
    ).toBe(
      'FIRING  checkout/data_stale  data stale: ' +
        'no events for 12 min, 0 vs expected 410 (−100%), since 12:03 UTC — warning → #payments',
    );
  });

  it('an onset on another day carries its date; odd numbers never throw', () => {
    const early = evidence({ onset: Date.UTC(2025, 0, 5, 23, 58) });
    expect(formatTransitionLine(transition({ evidence: early }))).toContain('since 2025-01-05 23:58 UTC');
    const odd = evidence({
      observedRate: Infinity,
      expectedRate: 0,
      observed: NaN,
      expected: NaN,
      volume: NaN,
      windowMinutes: NaN,
      onset: NaN,
    });
    expect(formatTransitionLine(transition({ evidence: odd, funnel: '' }))).toBe(
      'FIRING  checkout-conversion [platform=android]  since ? — critical → #payments',
    );
  });
});

describe('LogNotifier', () => {
  function capture() {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    return { lines, logger: createLogger({ level: 'info', pretty: false, destination }) };
  }

  it(
    'logs every transition with its evidence ' + '(warn for firing, info otherwise) and prints the console line',
    async () => {
      const { lines, logger } = capture();
      const printed: string[] = [];
      const n = new LogNotifier({ logger, write: (l) => printed.push(l) });
      const firing = transition();
      const resolved = transition({ kind: 'resolved', from: 'firing', to: 'resolved', id: `${firing.incidentId}#3` });
      await n.notify(firing);
      await n.notify(resolved);
      await n.close();
      await new Promise((r) => setImmediate(r));
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatchObject({
        level: 'warn',
        msg: 'alert firing: checkout-conversion [platform=android]',
        transition: firing.id,
        kind: 'firing',
        rule: 'checkout-conversion',
        funnel: 'checkout',
        severity: 'critical',
        notify: ['#payments'],
        incidentId: firing.incidentId,
        at: '2025-01-06T12:08:00.000Z',
        evidence: {
          observedRate: 0.412,
          expectedRate: 0.601,
          relativeChange: 0.314,
          volume: 1234,
          windowMinutes: 15,
          pValue: 2e-7,
          onset: '2025-01-06T12:03:00.000Z',
        },
      });
      expect(lines[1]).toMatchObject({ level: 'info', kind: 'resolved', transition: resolved.id });
      expect(printed).toEqual([formatTransitionLine(firing), formatTransitionLine(resolved)]);
    },
  );

  it('prints nothing without a write function', async () => {
    const { lines, logger } = capture();
    await new LogNotifier({ logger }).notify(transition({ kind: 'resolved' }));
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', kind: 'resolved' });
  });

  it('keeps non-paging transitions (pending, insufficient) out of the console and the info log', async () => {
    const { lines, logger } = capture();
    const printed: string[] = [];
    const n = new LogNotifier({ logger, write: (l) => printed.push(l) });
    await n.notify(transition({ kind: 'pending' }));
    await n.notify(transition({ kind: 'insufficient' }));
    await new Promise((r) => setImmediate(r));
    expect(printed).toEqual([]);
    expect(lines).toEqual([]); // logged at debug, below this logger's level
  });
});
