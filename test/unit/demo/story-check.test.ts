/**
 * The demo's story check on hand-made pages: the story it must accept (pages naming the planted deploy and stripe,
 * resolved after the rollback) and each way it must refuse it, with the sentence that says what differed.
 */
import { describe, it, expect } from 'vitest';
import { StoryCheck, type StoryPlan } from '../../../src/demo/story-check.js';
import type { DeliveryJob, DeliveryEvent } from '../../../src/notify/receiver.js';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import type { DeploySuspect } from '../../../src/model/alert-context.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 7, 21, 0);
const STRIPE = { dimension: 'payment_provider', value: 'stripe' };
const PLAN: StoryPlan = {
  rule: 'checkout-payment-success-drop',
  segment: STRIPE,
  deploy: { service: 'payments-service', version: '2.4.0' },
  pageWithinMs: 8 * MIN,
  resolveWithinMs: 20 * MIN,
};

const planted: DeploySuspect = {
  service: 'payments-service',
  version: '2.4.0',
  ts: T0,
  score: 0.25,
  why: 'at the onset; payments-service serves checkout',
};
const unrelated: DeploySuspect = {
  service: 'checkout-web',
  version: '1.8.2',
  ts: T0 - 62 * MIN,
  score: 0.03,
  why: '1 h 02 min before the onset; checkout-web serves checkout',
};

let seq = 0;
function job(
  event: DeliveryEvent,
  at: number,
  segment: AlertTransition['segment'],
  over: { deploys?: DeploySuspect[]; summary?: string; rule?: string; receiver?: string } = {},
): DeliveryJob {
  const alert: AlertTransition = {
    id: `${over.rule ?? PLAN.rule}|${segment?.value ?? ''}#${++seq}`,
    kind: event === 'resolved' ? 'resolved' : 'firing',
    at,
    rule: over.rule ?? PLAN.rule,
    funnel: 'checkout',
    segment,
    severity: 'critical',
    notify: ['pagerduty-checkout', 'slack-payments'],
    labels: {},
    from: event === 'resolved' ? 'firing' : 'inactive',
    to: event === 'resolved' ? 'resolved' : 'firing',
    ruleSetVersion: 'r-1',
    context: {
      deploys: over.deploys ?? [planted, unrelated],
      drilldown: {
        classification: 'localised',
        summary: over.summary ?? 'payment_provider=stripe carries 95% of the deficit (its rate fell 80%)',
        dimensions: [],
      },
    },
  };
  return {
    id: `${alert.id}/${event}/${over.receiver ?? 'pd'}`,
    receiver: 'pd',
    event,
    alert,
    createdAt: at,
    attempt: 0,
  };
}

function story(): StoryCheck {
  const s = new StoryCheck(PLAN);
  s.fault(T0 + 8_000);
  return s;
}

describe('the demo story check', () => {
  it('accepts deploy, page naming the deploy and stripe, rollback, resolve; waits in between', () => {
    const s = story();
    expect(s.verdict(T0 + MIN)).toEqual({
      status: 'waiting',
      for: 'the page for checkout-payment-success-drop|payment_provider=stripe',
    });
    const wide = job('firing', T0 + 2 * MIN, null);
    s.page(wide);
    s.page({ ...wide, receiver: 'slack', id: `${wide.alert.id}/firing/slack` }); // the same page to a second receiver
    expect(s.segmentPaged()).toBe(false);
    s.page(job('firing', T0 + 2 * MIN, STRIPE));
    expect(s.segmentPaged()).toBe(true);
    expect(s.verdict(T0 + 3 * MIN)).toEqual({ status: 'waiting', for: 'the rollback' });
    s.rollback(T0 + 3 * MIN);
    s.page(job('resolved', T0 + 12 * MIN, null));
    expect(s.verdict(T0 + 12 * MIN)).toMatchObject({ status: 'waiting', for: expect.stringContaining('stripe') });
    s.page(job('resolved', T0 + 13 * MIN, STRIPE));
    expect(s.verdict(T0 + 13 * MIN)).toEqual({
      status: 'complete',
      summary:
        '2 pages of checkout-payment-success-drop named payments-service 2.4.0 first and payment_provider=stripe; ' +
        'the rollback resolved every one',
    });
  });

  it('fails when a page names another deploy first, saying which and why', () => {
    const s = story();
    s.page(job('firing', T0 + 2 * MIN, STRIPE, { deploys: [unrelated, planted] }));
    expect(s.verdict(T0 + 2 * MIN)).toEqual({
      status: 'failed',
      problems: [
        'the page for checkout-payment-success-drop|payment_provider=stripe named checkout-web 1.8.2 first ' +
          '(1 h 02 min before the onset; checkout-web serves checkout), not payments-service 2.4.0',
      ],
    });
  });

  it('fails when a page names no deploy, or the funnel-wide page places the drop elsewhere', () => {
    const s = story();
    s.page(job('firing', T0 + 2 * MIN, STRIPE, { deploys: [] }));
    s.page(job('firing', T0 + 2 * MIN, null, { summary: 'no single segment explains it' }));
    const v = s.verdict(T0 + 2 * MIN);
    expect(v.status).toBe('failed');
    expect(v.status === 'failed' && v.problems).toEqual([
      'the page for checkout-payment-success-drop|payment_provider=stripe named no deploy; ' +
        'expected payments-service 2.4.0',
      'the page for checkout-payment-success-drop placed the drop as "no single segment explains it", ' +
        'not in payment_provider=stripe',
    ]);
  });

  it('fails on a page before the fault and on a page for a segment that did not fail', () => {
    const early = new StoryCheck(PLAN);
    early.page(job('firing', T0, null));
    expect(early.verdict(T0)).toEqual({
      status: 'failed',
      problems: ['checkout-payment-success-drop paged before the fault was injected (a false alarm)'],
    });
    const s = story();
    s.page(job('firing', T0 + 2 * MIN, { dimension: 'payment_provider', value: 'adyen' }));
    expect(s.verdict(T0 + 2 * MIN)).toMatchObject({
      status: 'failed',
      problems: ['checkout-payment-success-drop|payment_provider=adyen paged, but only payment_provider=stripe failed'],
    });
  });

  it('fails when no page comes in time, or nothing resolves after the rollback', () => {
    const silent = story();
    expect(silent.verdict(T0 + 9 * MIN)).toEqual({
      status: 'failed',
      problems: ['no page for checkout-payment-success-drop|payment_provider=stripe within 8 min of the fault'],
    });
    const stuck = story();
    stuck.page(job('firing', T0 + 2 * MIN, STRIPE));
    stuck.rollback(T0 + 3 * MIN);
    expect(stuck.verdict(T0 + 20 * MIN).status).toBe('waiting');
    expect(stuck.verdict(T0 + 24 * MIN)).toEqual({
      status: 'failed',
      problems: [
        'checkout-payment-success-drop|payment_provider=stripe still firing 21 min after the rollback (no resolve)',
      ],
    });
  });

  it('ignores other rules and other events', () => {
    const s = story();
    s.page(job('firing', T0, STRIPE, { rule: 'checkout-completion-drop', deploys: [unrelated] }));
    s.page(job('reminder', T0 + MIN, STRIPE));
    expect(s.verdict(T0 + MIN).status).toBe('waiting');
    expect(s.segmentPaged()).toBe(false);
  });
});
