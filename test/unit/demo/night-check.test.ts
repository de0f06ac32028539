import { describe, expect, it } from 'vitest';
import { NightCheck, type NightPlan } from '../../../src/demo/night-story.js';
import type { StoredRun } from '../../../src/probes/run-store.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';

const T = 1_000_000;
const MIN = 60_000;
const PLAN: NightPlan = {
  journey: 'checkout-stripe',
  step: 'pay',
  withinRuns: 2,
  resolveWithinRuns: 3,
  realRule: 'payment-drop',
  deploy: { service: 'payments-service', version: '2.4.1' },
};
const REASON =
  'checkout-stripe failed 2 of its last 3 runs at eu-west-1; latest failure (run r2) step pay: ' +
  'pay: POST /api/checkout/c1/payment answered 502, expected 200; answer: {"error":"provider_error"}';

function run(at: number, failedStep?: string): StoredRun {
  return {
    runId: `run-${at}`,
    at,
    ok: failedStep === undefined,
    latencies: {},
    ...(failedStep ? { step: failedStep, reason: 'status', status: 502, message: `${failedStep}: answered 502` } : {}),
  };
}

function page(event: 'firing' | 'resolved', o: { rule?: string; reason?: string; deploy?: string } = {}): DeliveryJob {
  const [service, version] = (o.deploy ?? 'payments-service 2.4.1').split(' ');
  return {
    event,
    alert: {
      rule: o.rule ?? 'probe:checkout-stripe',
      at: T + 3 * MIN,
      evidence: { reason: o.reason ?? REASON },
      context: { deploys: [{ service, version, why: 'deployed 1 min before the onset' }] },
    },
  } as unknown as DeliveryJob;
}

/** The fault, two failed runs of the broken journey (the alert fires after the second), the real rule insufficient. */
function paged(c: NightCheck): void {
  c.canaryRun('checkout-stripe', run(T - MIN));
  c.realRule(['insufficient']);
  c.fault(T);
  c.canaryRun('checkout-stripe', run(T + 10_000, 'pay'));
  c.canaryRun('checkout-adyen', run(T + 10_000));
  c.probeAlert(['inactive']);
  c.canaryRun('checkout-stripe', run(T + MIN + 10_000, 'pay'));
  c.probeAlert(['firing']);
}

describe('the night story check', () => {
  it('holds when the canary alert fires within two runs, pages, and resolves after the rollback', () => {
    const c = new NightCheck(PLAN);
    paged(c);
    expect(c.verdict()).toEqual({ status: 'waiting', for: 'the page for checkout-stripe' });
    // The page goes out on the next tick (group_wait), after the third run.
    c.canaryRun('checkout-stripe', run(T + 2 * MIN + 10_000, 'pay'));
    c.page(page('firing'));
    expect(c.pageSeen()).toBe(true);
    expect(c.verdict()).toEqual({ status: 'waiting', for: 'the rollback' });
    c.rollback(T + 3 * MIN);
    c.canaryRun('checkout-stripe', run(T + 3 * MIN + 10_000));
    c.probeAlert(['firing']);
    c.canaryRun('checkout-stripe', run(T + 4 * MIN + 10_000));
    c.probeAlert(['resolved']);
    expect(c.verdict()).toEqual({ status: 'waiting', for: 'the resolve page for checkout-stripe' });
    c.page(page('resolved'));
    const v = c.verdict();
    expect(v.status).toBe('complete');
    if (v.status !== 'complete') return;
    expect(v.summary).toMatch(/^checkout-stripe failed at pay on run 1 after the deploy \(pay: answered 502\)/);
    expect(v.summary).toContain('its probe alert fired after run 2 (K=2 of 3) and paged on the next tick');
    expect(v.summary).toContain('after the rollback the alert resolved on passing run 2');
  });

  it('fails on a page that misses the journey, the step, the answer or the deploy', () => {
    const cases: [Parameters<typeof page>[1], RegExp][] = [
      [{ reason: REASON.replace(/step pay/, 'step confirm') }, /did not name the step pay/],
      [{ reason: REASON.replace(/502/g, '500') }, /did not name the answer \(502\)/],
      [{ reason: REASON.replaceAll('checkout-stripe', 'a journey') }, /did not name the journey checkout-stripe/],
      [{ deploy: 'web 9.9.9' }, /the page named web 9\.9\.9, not payments-service 2\.4\.1/],
    ];
    for (const [o, problem] of cases) {
      const c = new NightCheck(PLAN);
      paged(c);
      c.page(page('firing', o));
      const v = c.verdict();
      expect(v.status, String(problem)).toBe('failed');
      if (v.status === 'failed') expect(v.problems.join('; ')).toMatch(problem);
    }
  });

  it('fails when the alert fires late, the page does not follow, or the alert does not resolve', () => {
    const late = new NightCheck(PLAN);
    late.realRule(['insufficient']);
    late.fault(T);
    late.canaryRun('checkout-stripe', run(T + 1, 'pay'));
    late.probeAlert([]);
    late.canaryRun('checkout-stripe', run(T + 2, 'pay'));
    late.probeAlert(['inactive']);
    expect(late.verdict()).toEqual({
      status: 'failed',
      problems: ['probe:checkout-stripe did not fire within 2 runs'],
    });

    const noPage = new NightCheck(PLAN);
    paged(noPage);
    noPage.canaryRun('checkout-stripe', run(T + 2 * MIN, 'pay'));
    expect(noPage.verdict().status).toBe('waiting');
    noPage.canaryRun('checkout-stripe', run(T + 3 * MIN, 'pay'));
    expect(noPage.verdict()).toEqual({
      status: 'failed',
      problems: ['no page for checkout-stripe by run 3 (the tick after its alert fired)'],
    });

    const stuck = new NightCheck(PLAN);
    paged(stuck);
    stuck.page(page('firing'));
    stuck.rollback(T + 3 * MIN);
    for (let i = 1; i <= 3; i++) {
      stuck.canaryRun('checkout-stripe', run(T + (3 + i) * MIN));
      stuck.probeAlert(['firing']);
    }
    expect(stuck.verdict()).toEqual({
      status: 'failed',
      problems: ['probe:checkout-stripe did not resolve after the rollback within 3 runs'],
    });
  });

  it('fails on a failure at another step, another journey failing or paging, or the real rule firing', () => {
    const atStep = new NightCheck(PLAN);
    atStep.fault(T);
    atStep.canaryRun('checkout-stripe', run(T + 1, 'login'));
    expect(atStep.verdict()).toEqual({ status: 'failed', problems: ['checkout-stripe failed at login, not at pay'] });

    const other = new NightCheck(PLAN);
    other.canaryRun('checkout-adyen', run(T - 5, 'pay'));
    expect(other.verdict()).toEqual({
      status: 'failed',
      problems: ['checkout-adyen failed though only checkout-stripe was broken: pay: answered 502'],
    });

    const otherPage = new NightCheck(PLAN);
    otherPage.fault(T);
    otherPage.page(page('firing', { rule: 'probe:checkout-adyen' }));
    expect(otherPage.verdict()).toEqual({
      status: 'failed',
      problems: ['probe:checkout-adyen paged, but only checkout-stripe was broken'],
    });

    const early = new NightCheck(PLAN);
    early.page(page('firing'));
    expect(early.verdict()).toEqual({
      status: 'failed',
      problems: ['probe:checkout-stripe paged before the fault (a false alarm)'],
    });

    const fired = new NightCheck(PLAN);
    fired.fault(T);
    fired.realRule(['firing']);
    expect(fired.verdict()).toEqual({
      status: 'failed',
      problems: ['payment-drop fired on thin traffic (the story expects it cannot judge)'],
    });
  });
});
