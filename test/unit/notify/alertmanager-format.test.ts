/**
 * The webhook payload validates against the committed Alertmanager v4 schema for every kind of job (a group's
 * trigger, an update with a resolved member, the resolve, a self-alert, a job without a group, a dimension name
 * Prometheus labels cannot hold), and the API v2 push carries endsAt only on resolved alerts.
 */
import { describe, expect, it } from 'vitest';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import { fingerprint, postableAlerts, ZERO_TIME } from '../../../src/notify/alertmanager-format.js';
import { groupJob, memberOf, type GroupState } from '../../../src/notify/grouping.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';
import { webhookBody } from '../../../src/notify/webhook.js';
import { alertmanagerV4Errors } from '../../support/alertmanager-schema.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0);
const MIN = 60_000;

function alert(over: Partial<AlertTransition> = {}): AlertTransition {
  return {
    id: `r@${T0}#1`,
    kind: 'firing',
    at: T0,
    rule: 'checkout-completion-drop',
    funnel: 'checkout',
    segment: { dimension: 'payment_provider', value: 'stripe' },
    severity: 'critical',
    notify: ['hook'],
    labels: { team: 'payments' },
    description: 'Fewer checkouts end in a paid order.',
    runbook: 'https://example.com/runbook',
    incidentId: `r@${T0}`,
    from: 'pending',
    to: 'firing',
    ruleSetVersion: 'v1',
    ...over,
  };
}

function group(members: AlertTransition[]): GroupState {
  const entries = members.map((a) => {
    const key = `${a.rule}|${a.segment ? `${a.segment.dimension}=${a.segment.value}` : ''}`;
    return [key, memberOf(key, a, T0)] as const;
  });
  return {
    receiver: 'hook',
    key: '{"funnel":"checkout"}',
    labels: { funnel: 'checkout' },
    id: `hook/{"funnel":"checkout"}@${T0}`,
    openedAt: T0,
    members: Object.fromEntries(entries),
    headline: members[0]!,
  };
}

describe('Alertmanager webhook v4', () => {
  const wide = alert({ segment: null });
  const odd = alert({ segment: { dimension: 'attrs.app-version', value: '5.2.0' } });

  it('a group trigger, update and resolve validate, one alert per member', () => {
    const g = group([alert(), wide, odd]);
    const { job: trigger, next } = groupJob(g, 'trigger', T0 + MIN);
    const body = webhookBody(trigger);
    expect(alertmanagerV4Errors(body)).toBe('');
    expect(body).toMatchObject({ version: '4', status: 'firing', receiver: 'hook', event: 'firing' });
    expect(body.alerts).toHaveLength(3);
    expect(body.commonLabels).toMatchObject({ alertname: 'checkout-completion-drop', funnel: 'checkout' });
    expect(body.alerts.map((a) => a.endsAt)).toEqual([ZERO_TIME, ZERO_TIME, ZERO_TIME]);
    expect(body.alerts.find((a) => a.labels.attrs_app_version === '5.2.0')).toBeDefined();
    expect(new Set(body.alerts.map((a) => a.fingerprint)).size).toBe(3);

    const firstKey = Object.keys(next.members)[0]!;
    const later: GroupState = {
      ...next,
      members: {
        ...next.members,
        [firstKey]: { ...next.members[firstKey]!, status: 'resolved', resolvedAt: T0 + 5 * MIN },
      },
    };
    const update = webhookBody(groupJob(later, 'update', T0 + 6 * MIN).job);
    expect(alertmanagerV4Errors(update)).toBe('');
    expect(update.status).toBe('firing');
    expect(update.alerts.filter((a) => a.status === 'resolved').map((a) => a.endsAt)).toEqual([
      new Date(T0 + 5 * MIN).toISOString(),
    ]);

    const resolve = webhookBody(groupJob(later, 'resolve', T0 + 9 * MIN).job);
    expect(alertmanagerV4Errors(resolve)).toBe('');
    expect(resolve.status).toBe('resolved');
    expect(resolve.alerts.every((a) => a.status === 'resolved' && a.endsAt !== ZERO_TIME)).toBe(true);
  });

  it('a self-alert and a job without a group validate too', () => {
    const failure = { receiver: 'pd', jobId: 'x', event: 'firing' as const, code: 'PAGERDUTY_400', reason: 'bad' };
    const bare: DeliveryJob = {
      id: 'j',
      receiver: 'hook',
      event: 'delivery_failed',
      alert: alert(),
      createdAt: T0,
      attempt: 0,
    };
    const selfAlert = webhookBody({ ...bare, failure });
    expect(alertmanagerV4Errors(selfAlert)).toBe('');
    expect(selfAlert.alerts[0]!.labels.alertname).toBe('funnelwatch_delivery_failed');
    expect(selfAlert.failure).toEqual(failure);
    expect(alertmanagerV4Errors(webhookBody({ ...bare, event: 'resolved' }))).toBe('');
    // Its recovery resolves the same alert (same labels, so the same fingerprint), naming the failing receiver.
    const recovered = webhookBody({ ...bare, event: 'delivery_recovered', failure, createdAt: T0 + 30 * MIN });
    expect(alertmanagerV4Errors(recovered)).toBe('');
    expect(recovered.status).toBe('resolved');
    expect(recovered.alerts[0]!.labels.failed_receiver).toBe('pd');
    expect(recovered.alerts[0]!.fingerprint).toBe(selfAlert.alerts[0]!.fingerprint);
    expect(recovered.alerts[0]!.endsAt).toBe(new Date(T0 + 30 * MIN).toISOString());
  });

  it('the schema is not a rubber stamp: a payload missing its alerts or with a bad label name fails', () => {
    const body = webhookBody(groupJob(group([alert()]), 'trigger', T0).job);
    expect(alertmanagerV4Errors({ ...body, alerts: [] })).not.toBe('');
    const bad = { ...body, alerts: [{ ...body.alerts[0]!, labels: { 'not-a-label': 'x', alertname: 'a' } }] };
    expect(alertmanagerV4Errors(bad)).not.toBe('');
    expect(alertmanagerV4Errors({ ...body, version: 4 })).not.toBe('');
  });
});

describe('Alertmanager API v2 postable alerts', () => {
  it('firing alerts carry no endsAt (re-sent every minute); resolved ones do', () => {
    const g = group([alert(), alert({ segment: null })]);
    const firing = postableAlerts(groupJob(g, 'trigger', T0).job);
    expect(firing.map((a) => 'endsAt' in a)).toEqual([false, false]);
    const resolved = postableAlerts(groupJob(g, 'resolve', T0 + 10 * MIN).job);
    expect(resolved.map((a) => a.endsAt)).toEqual([
      new Date(T0 + 10 * MIN).toISOString(),
      new Date(T0 + 10 * MIN).toISOString(),
    ]);
  });

  it('fingerprints depend on the label set only', () => {
    expect(fingerprint({ a: '1', b: '2' })).toBe(fingerprint({ b: '2', a: '1' }));
    expect(fingerprint({ a: '1' })).not.toBe(fingerprint({ a: '2' }));
  });
});
