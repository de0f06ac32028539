/**
 * The grouping stages alone (notify/grouping.ts): the group key, the dedup decision against what was last sent
 * (Alertmanager's needsUpdate), the job a decision makes, and the inhibition check.
 */
import { describe, expect, it } from 'vitest';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import { groupTail } from '../../../src/notify/format.js';
import {
  DEFAULT_GROUPING,
  groupDedupKey,
  groupJob,
  groupKey,
  inhibitedBy,
  nextAction,
  receiverGrouping,
  type GroupMember,
  type GroupState,
} from '../../../src/notify/grouping.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0);
const MIN = 60_000;

const headline: AlertTransition = {
  id: 'r@1#1',
  kind: 'firing',
  at: T0,
  rule: 'r',
  funnel: 'checkout',
  segment: null,
  severity: 'warning',
  notify: ['slack'],
  labels: {},
  from: 'pending',
  to: 'firing',
  ruleSetVersion: 'v',
};

function member(key: string, o: Partial<GroupMember> = {}): GroupMember {
  return {
    key,
    rule: 'r',
    segment: key.includes('|') ? key.split('|')[1]! : null,
    severity: 'warning',
    incident: `${key}@${T0}`,
    status: 'firing',
    change: 0.3,
    firedAt: T0,
    ...o,
  };
}

function group(members: GroupMember[], sent?: GroupState['sent']): GroupState {
  return {
    receiver: 'slack',
    key: '{"funnel":"checkout"}',
    labels: { funnel: 'checkout' },
    id: `slack/{"funnel":"checkout"}@${T0}`,
    openedAt: T0,
    members: Object.fromEntries(members.map((m) => [m.key, m])),
    headline,
    ...(sent ? { sent } : {}),
  };
}

/** The record of a trigger that told of `r` firing at T0. */
const sent: GroupState['sent'] = {
  at: T0,
  action: 'trigger',
  firing: ['r'],
  resolved: [],
  severity: 'warning',
  change: 0.3,
};

describe('groupKey', () => {
  it('picks the group_by labels, a missing one as empty; [...] takes every label', () => {
    const labels = { funnel: 'checkout', rule: 'r', platform: 'ios' };
    expect(groupKey(labels, ['funnel']).labels).toEqual({ funnel: 'checkout' });
    expect(groupKey(labels, ['team']).labels).toEqual({ team: '' });
    expect(groupKey(labels, ['...']).labels).toEqual(labels);
    expect(groupKey(labels, ['rule', 'funnel']).key).toBe(groupKey(labels, ['funnel', 'rule']).key);
  });
});

describe('nextAction (dedup against what was sent)', () => {
  const o = DEFAULT_GROUPING;
  it('waits group_wait before the trigger; drops a group that resolved meanwhile', () => {
    expect(nextAction(group([member('r')]), T0 + 29_000, o)).toBeNull();
    expect(nextAction(group([member('r')]), T0 + 30_000, o)).toBe('trigger');
    expect(nextAction(group([]), T0 + 10_000, o)).toBe('drop');
  });

  it('after the trigger: nothing within group_interval; update or resolve when the members changed', () => {
    const joined = group([member('r'), member('r|platform=ios')], sent);
    expect(nextAction(joined, T0 + 4 * MIN, o)).toBeNull();
    expect(nextAction(joined, T0 + 5 * MIN, o)).toBe('update');
    expect(nextAction(group([member('r')], sent), T0 + 5 * MIN, o)).toBeNull();
    const over = group([member('r', { status: 'resolved', resolvedAt: T0 + MIN })], sent);
    expect(nextAction(over, T0 + 5 * MIN, o)).toBe('resolve');
  });

  it('a reminder once repeat_interval passed with nothing new; none with repeat_interval 0', () => {
    const g = group([member('r')], sent);
    expect(nextAction(g, T0 + 4 * 60 * MIN, o)).toBe('reminder');
    expect(nextAction(g, T0 + 4 * 60 * MIN, receiverGrouping({}, 0))).toBeNull();
    // An alertmanager receiver re-sends every minute while the group is active.
    const am = receiverGrouping({ kind: 'alertmanager' }, 0);
    expect(nextAction(g, T0 + MIN, am)).toBe('reminder');
    expect(nextAction(group([member('r')]), T0, am)).toBe('trigger');
  });
});

describe('groupJob', () => {
  it('leads with the worst member, counts the rest, and remembers what it said', () => {
    const g = group([member('r'), member('r|platform=ios', { severity: 'critical', change: 0.5 })]);
    const { job, next } = groupJob(g, 'trigger', T0 + MIN);
    expect(job.event).toBe('firing');
    expect(job.group!.worst).toBe('r|platform=ios');
    expect(job.group!.firing).toBe(2);
    expect(next.sent).toMatchObject({ firing: ['r|platform=ios', 'r'], severity: 'critical', change: 0.5 });
  });

  it('an update whose worst severity rose says so', () => {
    const g = group([member('r'), member('r|platform=ios', { severity: 'critical' })], sent);
    expect(groupJob(g, 'update', T0 + 5 * MIN).job.group!.severityRose).toBe(true);
    expect(groupJob(group([member('r'), member('q')], sent), 'update', T0 + 5 * MIN).job.group!.severityRose).toBe(
      false,
    );
  });

  it('a resolve carries the headline as resolved', () => {
    const g = group([member('r', { status: 'resolved', resolvedAt: T0 })]);
    const { job } = groupJob(g, 'resolve', T0 + 5 * MIN);
    expect(job.event).toBe('resolved');
    expect(job.alert.kind).toBe('resolved');
    expect(job.group!.left).toEqual(['r']);
  });

  it('one PagerDuty dedup key per group id, within 255 characters', () => {
    expect(groupDedupKey('a')).not.toBe(groupDedupKey('b'));
    expect(groupDedupKey('x'.repeat(1000)).length).toBeLessThanOrEqual(255);
  });
});

describe('inhibitedBy', () => {
  const ios: AlertTransition = {
    ...headline,
    segment: { dimension: 'platform', value: 'ios' },
    context: {
      drilldown: {
        classification: 'localised',
        summary: '',
        dimensions: [
          {
            dimension: 'payment_provider',
            top: [{ value: 'stripe', expected: 1, observed: 0, deficitShare: 1, rateChanged: true }],
          },
        ],
      },
    },
  };
  it('holds back only when the explaining alert is delivered at the receiver', () => {
    expect(inhibitedBy(ios, () => true)).toBe('r|payment_provider=stripe');
    expect(inhibitedBy(ios, () => false)).toBeUndefined();
  });
  it('never for a funnel-wide alert, a global drop, or a cause in the same dimension', () => {
    expect(inhibitedBy({ ...ios, segment: null }, () => true)).toBeUndefined();
    const global = {
      ...ios,
      context: { drilldown: { ...ios.context!.drilldown!, classification: 'global' as const } },
    };
    expect(inhibitedBy(global, () => true)).toBeUndefined();
    expect(inhibitedBy({ ...ios, segment: { dimension: 'payment_provider', value: 'adyen' } }, () => true)).toBe(
      undefined,
    );
  });
});

describe('the group tail of a page', () => {
  it('names the cause segment, or says a funnel-wide drop has none', () => {
    const dd = (classification: 'localised' | 'global') => ({
      classification,
      summary: '',
      dimensions: [
        {
          dimension: 'payment_provider',
          top: [{ value: 'stripe', expected: 1, observed: 0, deficitShare: 1, rateChanged: true }],
        },
      ],
    });
    const tail = (classification: 'localised' | 'global') =>
      groupTail(
        groupJob(
          { ...group([member('r')]), headline: { ...headline, context: { drilldown: dd(classification) } } },
          'trigger',
          T0,
        ).job.group,
      );
    expect(tail('localised')).toBe('cause: payment_provider=stripe');
    expect(tail('global')).toBe('funnel-wide: no single segment explains it');
  });
});
