/**
 * A canary gate's decision as each receiver words it (a `gate_verdict` job): one console line, one Slack message,
 * the webhook body with the decision, and PagerDuty refusing it (a verdict is not an incident); and the evidence
 * package the gate builds from the test's result (rollback condition, Markdown).
 */
import { describe, it, expect } from 'vitest';
import { pino } from 'pino';
import { consoleLines } from '../../../src/notify/console-receiver.js';
import { slackMessage } from '../../../src/notify/slack-message.js';
import { webhookBody } from '../../../src/notify/webhook.js';
import { PagerDutyReceiver } from '../../../src/notify/pagerduty.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';
import type { GateNotice } from '../../../src/model/gate-notice.js';
import { buildEvidence, evidenceMarkdown, rollbackCondition } from '../../../src/gates/gate-evidence.js';
import type { GateDef } from '../../../src/rules/gate.js';
import type { GateTestResult } from '../../../src/gates/sequential-test.js';

const notice: GateNotice = {
  gate: 'checkout-canary',
  funnel: 'checkout',
  splitBy: 'app_version',
  canary: '5.3.0',
  baseline: '5.2.0',
  verdict: 'fail',
  reason: 'harm_established',
  explanation: 'Fail: the canary converts 33.4% against 59.4%.',
  decidedAt: Date.UTC(2026, 11, 7, 22, 5),
  canaryRate: 0.334,
  baselineRate: 0.594,
  effect: { estimate: -0.438, lower: null, upper: -0.08, level: 0.75 },
  evidencePath: '/v1/gates/checkout-canary/evidence?canary=5.3.0&baseline=5.2.0',
  owner: 'payments-team',
};

const job: DeliveryJob = {
  id: 'gate:x:fail/gate_verdict/slack-payments',
  receiver: 'slack-payments',
  event: 'gate_verdict',
  alert: {
    id: 'gate:x:fail#1',
    kind: 'firing',
    at: notice.decidedAt,
    rule: 'checkout-canary',
    funnel: 'checkout',
    segment: { dimension: 'app_version', value: '5.3.0' },
    severity: 'warning',
    notify: ['slack-payments'],
    labels: {},
    incidentId: 'gate:x:fail',
    from: 'inactive',
    to: 'firing',
    ruleSetVersion: 'r-1',
  },
  createdAt: notice.decidedAt,
  attempt: 0,
  gate: notice,
};

describe('a gate verdict at the receivers', () => {
  it('is one console line with both rates, the effect and the explanation', () => {
    expect(consoleLines(job)).toEqual([
      'GATE FAIL checkout-canary: app_version 5.3.0 vs 5.2.0: 33.4% vs 59.4% (−44%): ' +
        'Fail: the canary converts 33.4% against 59.4%.',
    ]);
  });

  it('is one Slack message naming the gate, both versions, the verdict and the evidence', () => {
    const m = slackMessage(job);
    expect(m.text).toContain('GATE FAIL checkout-canary: app_version 5.3.0 vs 5.2.0');
    const json = JSON.stringify(m.blocks);
    expect(json).toContain(':red_circle: GATE FAIL: checkout-canary');
    expect(json).toContain('app_version=5.2.0');
    expect(json).toContain('harm_established');
    expect(json).toContain(notice.evidencePath.replace('&', '&amp;')); // mrkdwn escapes &
    expect(m.truncated).toEqual([]);
  });

  it('reaches a webhook with the decision beside the alert', () => {
    expect(webhookBody(job)).toMatchObject({ event: 'gate_verdict', gate: { verdict: 'fail', canary: '5.3.0' } });
  });

  it('is refused by PagerDuty for good, without a request', async () => {
    const pd = new PagerDutyReceiver({
      def: { name: 'pd', kind: 'pagerduty', routingKey: { env: 'NOT_SET_ANYWHERE' } },
      baseUrl: 'http://127.0.0.1:1',
      logger: pino({ level: 'silent' }),
    });
    expect(await pd.deliver({ ...job, receiver: 'pd' }, undefined)).toMatchObject({
      ok: false,
      retriable: false,
      code: 'DELIVERY_NOT_SUPPORTED',
    });
  });
});

describe('the evidence package', () => {
  const gate: GateDef = {
    name: 'checkout-canary',
    funnel: 'checkout',
    metric: { kind: 'cohort_conversion', from: 'started', to: 'completed' },
    splitBy: 'app_version',
    drop: 0.05,
    falseFail: 0.05,
    power: 0.8,
    warmupMs: 300_000,
    maxDurationMs: 4 * 3_600_000,
    onTimeout: 'fail',
    onSrm: 'fail',
    notify: [],
    source: { file: 'rules/checkout.yaml', line: 1, col: 1 },
  };

  it('states the rollback condition with every way the gate can fail', () => {
    expect(rollbackCondition(gate, 0.1)).toBe(
      "roll back when the canary's cohort conversion started → completed is established to be worse than the " +
        "baseline's (harm of 5% or more matters; at most 5% of good canaries fail), or when the canary's share of " +
        'traffic departs from 10% beyond chance, or when no decision is reached within 240 minutes after the warm-up',
    );
    expect(rollbackCondition({ ...gate, onSrm: 'hold', onTimeout: 'inconclusive' }, 0.1)).not.toMatch(/share|within/);
  });

  it('keeps the first look, the changes and the last look of the timeline, and renders Markdown', () => {
    const at = (k: number) => Date.UTC(2026, 11, 7, 22, k);
    const look = (k: number, verdict: 'inconclusive' | 'fail') => ({
      at: at(k),
      verdict,
      failEvidence: k,
      passEvidence: 0.5,
      srmMismatch: false,
    });
    const result: GateTestResult = {
      verdict: 'fail',
      reason: 'harm_established',
      explanation: 'Fail: harm established.',
      decidedAt: at(4),
      canary: { trials: 100, successes: 30, rate: 0.3 },
      baseline: { trials: 900, successes: 540, rate: 0.6 },
      effect: { estimate: -0.5, lower: null, upper: -0.2, level: 0.75, lowerConfidence: 0.8, upperConfidence: 0.95 },
      srm: { checked: true, expectedWeight: 0.1, observedWeight: 0.1, pValue: 0.9, mismatch: false },
      minutesUsed: 5,
      minutesToDecision: 0,
      warmupExcludedMinutes: 5,
      timeline: [
        look(1, 'inconclusive'),
        look(2, 'inconclusive'),
        look(3, 'inconclusive'),
        look(4, 'fail'),
        look(5, 'fail'),
      ],
    };
    const e = buildEvidence({
      gate,
      splitBy: 'app_version',
      canary: { value: '5.3.0', entered: 110 },
      baseline: { value: '5.2.0', entered: 990 },
      result,
      expectedWeight: 0.1,
      since: at(0) - 300_000,
      sinceSource: 'first_seen',
      dataUntil: at(5),
      now: at(7),
      youngLeftOut: 0,
      deploy: null,
      ruleSetVersion: 'r-1',
    });
    expect(e.timeline.map((t) => [t.at.slice(11, 16), t.verdict])).toEqual([
      ['22:01', 'inconclusive'],
      ['22:04', 'fail'],
      ['22:05', 'fail'],
    ]);
    expect(e.rollback).toEqual({
      condition: rollbackCondition(gate, 0.1),
      status: 'fired',
      at: new Date(at(4)).toISOString(),
    });
    const md = evidenceMarkdown(e);
    expect(md).toContain('# Canary gate `checkout-canary`: **FAIL**');
    expect(md).toContain('| canary | `5.3.0` | 110 | 100 | 30 | 30.00% |');
    expect(md).toContain('anytime-valid bounds: at most −20.0% (95% confidence).');
    expect(md).toContain('expected canary share 10%, observed 10%, p = 0.90: consistent');
    expect(md).toContain('Deploy marker: none posted for this version.');
  });
});
