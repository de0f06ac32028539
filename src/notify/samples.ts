/**
 * What the receivers send, rendered by the receivers' own code from one sample alert (its deploys and drill-down
 * written by hand in the shape the evaluator fills): the README's "what a page
 * looks like" section is generated from here (`npm run docs`) and a test keeps it in step, so the documentation
 * cannot drift from what Slack and PagerDuty really receive.
 */
import type { AlertTransition } from '../model/alert-transition.js';
import { consoleLines } from './console-receiver.js';
import { pagerDutyEvent } from './pagerduty.js';
import { alertKey } from '../model/alert-key.js';
import { groupJob, memberOf, type GroupMember, type GroupState } from './grouping.js';
import type { DeliveryJob } from './receiver.js';
import { slackMessage, slackThreadReply } from './slack-message.js';

const AT = Date.UTC(2026, 10, 23, 14, 7);
const MIN = 60_000;

export function sampleAlert(): AlertTransition {
  return {
    id: `checkout-completion-drop|payment_provider=stripe@${AT}#1`,
    kind: 'firing',
    at: AT,
    rule: 'checkout-completion-drop',
    funnel: 'checkout',
    segment: { dimension: 'payment_provider', value: 'stripe' },
    severity: 'critical',
    notify: ['pagerduty-checkout', 'slack-payments'],
    owner: 'payments-team',
    runbook: 'https://example.com/runbooks/checkout-completion',
    labels: { team: 'payments' },
    description: 'Fewer started checkouts end in a paid order.',
    incidentId: `checkout-completion-drop|payment_provider=stripe@${AT}`,
    from: 'pending',
    to: 'firing',
    metric: 'cohort_conversion',
    ruleSetVersion: 'r-3f9a0c12b4d5e6f7',
    evidence: {
      observed: 212,
      expected: 371.4,
      observedRate: 0.3473,
      expectedRate: 0.6088,
      relativeChange: 0.4292,
      volume: 610,
      windowMinutes: 15,
      statistic: 9.7,
      threshold: 4.1,
      pValue: 2.1e-9,
      chanceRatePerWeek: 0.5,
      onset: AT - 9 * MIN,
      evaluatedUpTo: AT - MIN,
      baseline: { kind: 'seasonal', weeksUsed: 4, level: 1.02 },
      noise: { tau2: 0.0004, tau2Slow: 0.0001 },
      recentChange: 0.47,
      recentMinutes: 5,
    },
    context: {
      deploys: [
        {
          service: 'payments-service',
          version: '2.4.0',
          environment: 'production',
          ts: AT - 17 * MIN,
          commit: '9c41d2e',
          author: 'sam',
          url: 'https://ci.example.com/payments-service/builds/812',
          score: 0.91,
          why: '8 min before the onset; payments-service is a service of checkout',
        },
        {
          service: 'checkout-web',
          version: '1.8.2',
          environment: 'production',
          ts: AT - 71 * MIN,
          author: 'lee',
          score: 0.2,
          why: '62 min before the onset; checkout-web is a service of checkout',
        },
      ],
      drilldown: {
        classification: 'localised',
        summary: "payment_provider=stripe carries 94% of the deficit (its rate fell 43%, the others' fell 1%)",
        dimensions: [
          {
            dimension: 'payment_provider',
            top: [{ value: 'stripe', expected: 371.4, observed: 212, deficitShare: 0.94, rateChanged: true }],
          },
          {
            dimension: 'platform',
            top: [{ value: 'ios', expected: 160.2, observed: 101, deficitShare: 0.36, rateChanged: true }],
          },
        ],
      },
    },
  };
}

/**
 * A sample job of the incident group a provider outage makes: the stripe segment (the worst member, the job's
 * alert) and the funnel-wide drop of the same rule, notified together.
 */
function job(event: DeliveryJob['event'], receiver: string, alert = sampleAlert()): DeliveryJob {
  const stripe = memberOf(alertKey(alert.rule, alert.segment), alert, AT);
  const wide: GroupMember = {
    ...stripe,
    key: alert.rule,
    segment: null,
    incident: `${alert.rule}@${AT}`,
    change: 0.21,
    observedRate: 0.481,
    expectedRate: 0.6088,
  };
  const resolved = event === 'resolved';
  const status = resolved ? ('resolved' as const) : ('firing' as const);
  const members = Object.fromEntries(
    [stripe, wide].map((m) => [m.key, { ...m, status, ...(resolved ? { resolvedAt: alert.at } : {}) }]),
  );
  const key = JSON.stringify({ funnel: alert.funnel });
  const group: GroupState = {
    receiver,
    key,
    labels: { funnel: alert.funnel },
    id: `${receiver}/${key}@${AT - MIN}`,
    openedAt: AT - MIN,
    members,
    headline: { ...alert, kind: 'firing' },
  };
  const action = event === 'resolved' ? 'resolve' : event === 'updated' ? 'update' : 'trigger';
  const made = groupJob(group, action, alert.at).job;
  return { ...made, alert, event };
}

/** The README section: console line, Slack message (blocks), Slack resolve reply, PagerDuty trigger. */
export function deliverySamplesMarkdown(): string {
  const firing = job('firing', 'slack-payments');
  const slack = slackMessage(firing);
  const resolvedAlert: AlertTransition = {
    ...sampleAlert(),
    kind: 'resolved',
    from: 'firing',
    to: 'resolved',
    at: AT + 38 * MIN,
    id: `${sampleAlert().incidentId}#2`,
  };
  const reply = slackThreadReply(job('resolved', 'slack-payments', resolvedAlert));
  const pd = pagerDutyEvent(job('firing', 'pagerduty-checkout'), '<routing key from PAGERDUTY_CHECKOUT_KEY>').body;
  return [
    'The console receiver (and the demo) prints:',
    '',
    '```',
    ...consoleLines(job('firing', 'console')),
    '```',
    '',
    '(The deploys and drill-down in this sample are written by hand, in the shape the evaluator produces.)',
    '',
    `Slack gets one message per incident (fallback text: "${slack.text}"), with these blocks; it is updated in place`,
    'as alerts join the incident, get worse and resolve, and the thread gets the details:',
    '',
    '```json',
    JSON.stringify(slack.blocks, null, 2),
    '```',
    '',
    `On resolve, the thread reply (broadcast to the channel) reads: "${reply.text}"`,
    '',
    'PagerDuty gets this Events API v2 trigger, one per incident; the resolve carries the same `dedup_key` and',
    'routing key:',
    '',
    '```json',
    JSON.stringify(pd, null, 2),
    '```',
  ].join('\n');
}
