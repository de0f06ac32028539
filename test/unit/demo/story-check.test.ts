/**
 * The demo's story check on hand-made pages: the story it must accept (one incident page naming the planted deploy
 * and stripe, resolved after the rollback) and each way it must refuse it, with the sentence that says what differed.
 * A page is an incident group's notification: its `alert` is the group's worst member, `group` lists every member.
 */
import { describe, it, expect } from 'vitest';
import { StoryCheck, type StoryPlan } from '../../../src/demo/story-check.js';
import type { DeliveryJob, DeliveryEvent, GroupMember } from '../../../src/notify/receiver.js';
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

function member(segment: string | null, status: 'firing' | 'resolved' = 'firing', rule = PLAN.rule): GroupMember {
  return {
    key: segment ? `${rule}|${segment}` : rule,
    rule,
    segment,
    severity: 'critical',
    incident: `${rule}|${segment ?? ''}@1`,
    status,
    change: 0.8,
    firedAt: T0,
  };
}

interface PageSpec {
  /** The group's headline alert (its worst member). */
  worst?: AlertTransition['segment'];
  members?: GroupMember[];
  cause?: string;
  spread?: boolean;
  deploys?: DeploySuspect[];
  group?: string;
  receiver?: string;
  rule?: string;
}

let seq = 0;
function page(event: DeliveryEvent, at: number, over: PageSpec = {}): DeliveryJob {
  const segment = over.worst === undefined ? STRIPE : over.worst;
  const rule = over.rule ?? PLAN.rule;
  const alert: AlertTransition = {
    id: `${rule}|${segment?.value ?? ''}#${++seq}`,
    kind: event === 'resolved' ? 'resolved' : 'firing',
    at,
    rule,
    funnel: 'checkout',
    segment,
    severity: 'critical',
    notify: ['pagerduty-checkout', 'slack-payments'],
    labels: {},
    from: event === 'resolved' ? 'firing' : 'inactive',
    to: event === 'resolved' ? 'resolved' : 'firing',
    ruleSetVersion: 'r-1',
    context: { deploys: over.deploys ?? [planted, unrelated] },
  };
  const members = over.members ?? [member('payment_provider=stripe', event === 'resolved' ? 'resolved' : 'firing')];
  const receiver = over.receiver ?? 'pd';
  return {
    id: `${alert.id}/${event}/${receiver}`,
    receiver,
    event,
    alert,
    createdAt: at,
    attempt: 0,
    group: {
      id: over.group ?? `${receiver}/funnel=checkout@${T0}`,
      key: 'funnel=checkout',
      labels: { funnel: 'checkout' },
      action: event === 'firing' ? 'trigger' : event === 'resolved' ? 'resolve' : 'update',
      members,
      worst: members[0]!.key,
      severityRose: false,
      firing: members.filter((m) => m.status === 'firing').length,
      resolved: members.filter((m) => m.status === 'resolved').length,
      ...(over.cause ? { cause: over.cause } : {}),
      ...(over.spread ? { spread: true } : {}),
      joined: [],
      left: [],
    },
  };
}

function story(): StoryCheck {
  const s = new StoryCheck(PLAN);
  s.fault(T0 + 8_000);
  return s;
}

const BOTH = [member(null), member('payment_provider=stripe')];

describe('the demo story check', () => {
  it('accepts deploy, one incident page naming the deploy and stripe, rollback, resolve; waits in between', () => {
    const s = story();
    expect(s.verdict(T0 + MIN)).toEqual({
      status: 'waiting',
      for: 'the page naming checkout-payment-success-drop|payment_provider=stripe',
    });
    const pd = page('firing', T0 + 2 * MIN, { worst: null, members: BOTH, cause: 'payment_provider=stripe' });
    s.page(pd);
    expect(s.segmentPaged()).toBe(true);
    // The same incident at a second receiver is its own group there; both must resolve.
    s.page(
      page('firing', T0 + 2 * MIN, {
        worst: STRIPE,
        members: BOTH,
        receiver: 'slack',
        group: `slack/funnel=checkout@${T0}`,
      }),
    );
    expect(s.verdict(T0 + 3 * MIN)).toEqual({ status: 'waiting', for: 'the rollback' });
    s.rollback(T0 + 3 * MIN);
    s.page(page('resolved', T0 + 12 * MIN, { worst: null, members: BOTH }));
    s.page(page('resolved', T0 + 13 * MIN, { members: BOTH, receiver: 'slack', group: `slack/funnel=checkout@${T0}` }));
    expect(s.verdict(T0 + 13 * MIN)).toEqual({
      status: 'complete',
      summary:
        '1 incident (2 alerts of checkout-payment-success-drop) paged 2 receivers once each, naming ' +
        'payments-service 2.4.0 first and payment_provider=stripe; the rollback resolved every one',
    });
  });

  it("completes when the rule's alerts resolve while a slower rule keeps the incident open, and says so", () => {
    const s = story();
    s.page(page('firing', T0 + 2 * MIN, { worst: null, members: BOTH, cause: 'payment_provider=stripe' }));
    s.rollback(T0 + 3 * MIN);
    const slower = member('payment_provider=stripe', 'firing', 'checkout-completion-drop');
    const stripeFiring = [member(null, 'resolved'), member('payment_provider=stripe'), slower];
    s.page(page('updated', T0 + 8 * MIN, { worst: null, members: stripeFiring }));
    expect(s.verdict(T0 + 8 * MIN)).toEqual({
      status: 'waiting',
      for: 'the resolve of checkout-payment-success-drop|payment_provider=stripe',
    });
    const ruleResolved = [slower, member(null, 'resolved'), member('payment_provider=stripe', 'resolved')];
    s.page(page('updated', T0 + 13 * MIN, { worst: STRIPE, rule: 'checkout-completion-drop', members: ruleResolved }));
    expect(s.verdict(T0 + 13 * MIN)).toMatchObject({
      status: 'complete',
      summary: expect.stringMatching(/the rollback resolved every one \(the incident stays open for another rule\)$/),
    });
  });

  it('fails when a page names another deploy first, saying which and why', () => {
    const s = story();
    s.page(page('firing', T0 + 2 * MIN, { deploys: [unrelated, planted] }));
    expect(s.verdict(T0 + 2 * MIN)).toEqual({
      status: 'failed',
      problems: [
        `the page of incident pd/funnel=checkout@${T0} named checkout-web 1.8.2 first ` +
          '(1 h 02 min before the onset; checkout-web serves checkout), not payments-service 2.4.0',
      ],
    });
  });

  it('fails when a page names no deploy, or places the drop elsewhere or funnel-wide', () => {
    const s = story();
    s.page(page('firing', T0 + 2 * MIN, { deploys: [] }));
    s.page(page('firing', T0 + 2 * MIN, { worst: null, members: [member(null)], spread: true, group: 'g2' }));
    s.page(page('firing', T0 + 2 * MIN, { worst: null, members: [member(null)], cause: 'platform=ios', group: 'g3' }));
    const v = s.verdict(T0 + 2 * MIN);
    expect(v.status === 'failed' && v.problems).toEqual([
      `the page of incident pd/funnel=checkout@${T0} named no deploy; expected payments-service 2.4.0`,
      'the page of incident g2 placed the drop funnel-wide, not in payment_provider=stripe',
      'the page of incident g3 placed the drop in platform=ios, not in payment_provider=stripe',
    ]);
  });

  it('fails on a page before the fault and on a member for a segment that did not fail', () => {
    const early = new StoryCheck(PLAN);
    early.page(page('firing', T0));
    expect(early.verdict(T0)).toEqual({
      status: 'failed',
      problems: [`incident pd/funnel=checkout@${T0} paged before the fault was injected (a false alarm)`],
    });
    const s = story();
    s.page(
      page('updated', T0 + 2 * MIN, { members: [member('payment_provider=stripe'), member('payment_provider=adyen')] }),
    );
    expect(s.verdict(T0 + 2 * MIN)).toMatchObject({
      status: 'failed',
      problems: ['checkout-payment-success-drop|payment_provider=adyen paged, but only payment_provider=stripe failed'],
    });
  });

  it('fails when no page comes in time, or nothing resolves after the rollback', () => {
    const silent = story();
    expect(silent.verdict(T0 + 9 * MIN)).toEqual({
      status: 'failed',
      problems: ['no page naming checkout-payment-success-drop|payment_provider=stripe within 8 min of the fault'],
    });
    const stuck = story();
    stuck.page(page('firing', T0 + 2 * MIN));
    stuck.rollback(T0 + 3 * MIN);
    expect(stuck.verdict(T0 + 20 * MIN).status).toBe('waiting');
    expect(stuck.verdict(T0 + 24 * MIN)).toEqual({
      status: 'failed',
      problems: [
        'checkout-payment-success-drop|payment_provider=stripe still firing 21 min after the rollback (no resolve)',
      ],
    });
  });

  it("ignores groups without the rule's alerts, and pages other than a trigger do not open an incident", () => {
    const s = story();
    const other = [member('payment_provider=stripe', 'firing', 'checkout-completion-drop')];
    s.page(page('firing', T0, { rule: 'checkout-completion-drop', members: other, deploys: [unrelated] }));
    s.page(page('reminder', T0 + MIN));
    expect(s.verdict(T0 + MIN).status).toBe('waiting');
    expect(s.segmentPaged()).toBe(false);
  });
});
