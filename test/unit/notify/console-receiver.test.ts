/**
 * The console receiver's lines for each delivery event, the likely-cause lines, and that it never fails.
 */
import { describe, it, expect } from 'vitest';
import { ConsoleReceiver, consoleLines } from '../../../src/notify/console-receiver.js';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import type { Evidence } from '../../../src/model/evidence.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';

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

function alert(over: Partial<AlertTransition> = {}): AlertTransition {
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

function job(event: DeliveryJob['event'], a: AlertTransition = alert(), over: Partial<DeliveryJob> = {}): DeliveryJob {
  return { id: `${a.id}/${event}/console`, receiver: 'console', event, alert: a, createdAt: AT, attempt: 0, ...over };
}

const FIRING =
  'FIRING  checkout-conversion [platform=android]  conversion 41.2% vs expected 60.1% (−31%), ' +
  '1,234 checkouts in 15 min, since 12:03 UTC — critical → #payments';

describe('consoleLines', () => {
  it('firing and resolved use the transition line', () => {
    expect(consoleLines(job('firing'))).toEqual([FIRING]);
    const resolved = consoleLines(
      job('resolved', alert({ kind: 'resolved', at: AT + 600_000, evidence: evidence({ observedRate: 0.6 }) })),
    );
    expect(resolved).toEqual([
      'RESOLVED checkout-conversion [platform=android]  conversion 60.0% vs expected 60.1% (−0.2%), ' +
        '1,234 checkouts in 15 min, at 12:18 UTC — critical → #payments',
    ]);
  });

  it('updated and reminder have their own labels', () => {
    expect(consoleLines(job('updated'))).toEqual([FIRING.replace('FIRING  ', 'UPDATE  ')]);
    expect(consoleLines(job('reminder'))).toEqual([FIRING.replace('FIRING  ', 'STILL   ')]);
  });

  it('delivery_failed names the receiver, the alert and the reason', () => {
    const failure = {
      receiver: 'pd-checkout',
      jobId: 'j',
      event: 'firing' as const,
      code: 'PAGERDUTY_400',
      reason: 'PagerDuty refused the event (400): Event object is invalid',
    };
    expect(consoleLines(job('delivery_failed', alert(), { failure }))).toEqual([
      'DELIVERY FAILED  receiver pd-checkout refused the firing of checkout-conversion [platform=android]: ' +
        'PagerDuty refused the event (400): Event object is invalid (PAGERDUTY_400)',
    ]);
    expect(consoleLines(job('delivery_recovered', alert(), { failure }))).toEqual([
      'DELIVERY RECOVERED  receiver pd-checkout delivers again ' +
        '(it had refused the firing of checkout-conversion: PAGERDUTY_400)',
    ]);
  });

  it('adds the likely cause and where the deficit is', () => {
    const a = alert({
      context: {
        deploys: [
          {
            service: 'payments-service',
            version: 'v2.3.1',
            ts: Date.UTC(2025, 0, 6, 12, 1),
            score: 0.9,
            why: '2 min before the onset',
          },
          { service: 'web', version: '1.0', ts: Date.UTC(2025, 0, 6, 11, 0), score: 0.1, why: 'an hour before' },
        ],
        drilldown: {
          classification: 'localised',
          summary: 'payment_provider=stripe carries 92% of the deficit',
          dimensions: [],
        },
      },
    });
    expect(consoleLines(job('firing', a))).toEqual([
      FIRING,
      '  likely cause: payments-service v2.3.1 deployed 12:01 UTC — 2 min before the onset (+1 more)',
      '  where: payment_provider=stripe carries 92% of the deficit',
    ]);
    expect(consoleLines(job('firing', alert({ context: { deploys: [] } })))).toEqual([
      FIRING,
      '  likely cause: no deploy recorded near the onset',
    ]);
    expect(
      consoleLines(
        job(
          'firing',
          alert({ context: { drilldown: { classification: 'no-deficit', summary: 'nothing', dimensions: [] } } }),
        ),
      ),
    ).toEqual([FIRING]);
  });

  it('keeps control characters from free text out of the terminal', () => {
    const [line] = consoleLines(job('firing', alert({ segment: { dimension: 'city', value: 'x\n\u001b[2Jevil' } })));
    // eslint-disable-next-line no-control-regex -- the escape character is what must not reach the terminal
    expect(line).not.toMatch(/[\n\u001b]/);
    expect(line).toContain('city=x [2Jevil');
  });
});

describe('ConsoleReceiver', () => {
  it('writes one call per line and is always ok', async () => {
    const lines: string[] = [];
    const r = new ConsoleReceiver({ def: { name: 'console', kind: 'console' }, write: (l) => lines.push(l) });
    expect(r.kind).toBe('console');
    expect(r.name).toBe('console');
    expect(await r.deliver(job('firing'))).toEqual({ ok: true });
    expect(lines).toEqual([FIRING]);
  });

  it('never fails, even when writing throws', async () => {
    const r = new ConsoleReceiver({
      def: { name: 'console', kind: 'console' },
      write: () => {
        throw new Error('EPIPE');
      },
    });
    expect(await r.deliver(job('firing'))).toEqual({ ok: true });
    expect(await r.deliver(job('firing', alert({ evidence: undefined, context: { deploys: [{} as never] } })))).toEqual(
      { ok: true },
    );
  });
});
