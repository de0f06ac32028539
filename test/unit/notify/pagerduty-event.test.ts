/**
 * The Events API v2 event built for each delivery job (pagerDutyEvent): dedup keys, summary truncation on code
 * points, severity, links, the 512 KB limit, resolves with payload, and the delivery-failed self-alert.
 */
import { describe, it, expect } from 'vitest';
import {
  deliveryFailedDedupKey,
  pagerDutyDedupKey,
  pagerDutyEvent,
  routingKeyId,
  type PagerDutyEventBody,
} from '../../../src/notify/pagerduty.js';
import { fillDashboardUrl } from '../../../src/notify/format.js';
import { PAGERDUTY_MAX_EVENT_BYTES } from '../../../src/core/pagerduty-api.js';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import type { Evidence } from '../../../src/model/evidence.js';
import type { DeliveryJob } from '../../../src/notify/receiver.js';

const KEY = 'e93facc04764012d7bfb002500d5d1a6';
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
    noise: { tau2: 0.01, tau2Slow: 0.02 },
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
    notify: ['pd-checkout'],
    labels: { team: 'payments' },
    owner: 'payments-team',
    runbook: 'https://wiki.example.com/runbooks/checkout',
    incidentId: `checkout-conversion|platform=android@${AT}`,
    from: 'pending',
    to: 'firing',
    evidence: evidence(),
    ruleSetVersion: 'rs-42',
    ...over,
  };
}

function job(event: DeliveryJob['event'], a: AlertTransition = alert(), over: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    id: `${a.id}/${event}/pd-checkout`,
    receiver: 'pd-checkout',
    event,
    alert: a,
    createdAt: AT + 1000,
    attempt: 0,
    ...over,
  };
}

function build(
  j: DeliveryJob,
  opts: Parameters<typeof pagerDutyEvent>[2] = {},
): { body: PagerDutyEventBody; warnings: string[] } {
  return pagerDutyEvent(j, KEY, opts) as { body: PagerDutyEventBody; warnings: string[] };
}

const codePoints = (s: string): number => Array.from(s).length;

describe('dedup key', () => {
  it('is funnelwatch/<alertKey> and the same across evidence, severity, time and event', () => {
    const a = build(job('firing')).body.dedup_key;
    expect(a).toBe('funnelwatch/checkout-conversion|platform=android');
    const changed = alert({
      severity: 'warning',
      at: AT + 3_600_000,
      evidence: evidence({ observedRate: 0.2, relativeChange: 0.6, onset: ONSET + 5 }),
    });
    expect(build(job('updated', changed)).body.dedup_key).toBe(a);
    expect(build(job('resolved', changed)).body.dedup_key).toBe(a);
    expect(build(job('firing', alert({ segment: null }))).body.dedup_key).toBe('funnelwatch/checkout-conversion');
  });

  it('differs between segments that only the escaping tells apart', () => {
    const x = pagerDutyDedupKey('r', { dimension: 'a', value: 'b|c=d' });
    const y = pagerDutyDedupKey('r', { dimension: 'a', value: 'b' });
    expect(x).not.toBe(y);
    expect(x).toBe('funnelwatch/r|a=b%7Cc%3Dd');
  });

  it('stays ≤ 255 bytes, unique and stable for long and multibyte segments', () => {
    const long1 = pagerDutyDedupKey('checkout-conversion', { dimension: 'campaign', value: 'x'.repeat(400) + 'A' });
    const long2 = pagerDutyDedupKey('checkout-conversion', { dimension: 'campaign', value: 'x'.repeat(400) + 'B' });
    expect(Buffer.byteLength(long1)).toBeLessThanOrEqual(255);
    expect(long1).not.toBe(long2);
    expect(long1).toBe(
      pagerDutyDedupKey('checkout-conversion', { dimension: 'campaign', value: 'x'.repeat(400) + 'A' }),
    );
    expect(long1.startsWith('funnelwatch/checkout-conversion|campaign=xxx')).toBe(true);
    expect(long1).toMatch(/#[0-9a-f]{32}$/);

    const emoji = pagerDutyDedupKey('r', { dimension: 'city', value: '東京🚀'.repeat(60) });
    expect(Buffer.byteLength(emoji)).toBeLessThanOrEqual(255);
    expect(emoji).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/); // no lone high surrogate from a cut
    expect(emoji).toMatch(/#[0-9a-f]{32}$/);
    // exactly at the limit is kept as is
    const exact = 'funnelwatch/'.length;
    const fits = pagerDutyDedupKey('r'.repeat(255 - exact), null);
    expect(fits).toBe(`funnelwatch/${'r'.repeat(255 - exact)}`);
  });
});

describe('event actions and payload', () => {
  it('firing and updated are triggers; resolved is a resolve that carries the payload', () => {
    expect(build(job('firing')).body.event_action).toBe('trigger');
    expect(build(job('updated')).body.event_action).toBe('trigger');
    const r = build(job('resolved', alert({ kind: 'resolved', from: 'firing', to: 'resolved' }))).body;
    expect(r.event_action).toBe('resolve');
    expect(r.payload.summary).toContain('checkout-conversion');
    expect(r.payload.source).toBe('funnelwatch');
    expect(r.payload.severity).toBe('critical');
    expect(r.payload.custom_details.event).toBe('resolved');
  });

  it('fills the payload fields and details', () => {
    const { body, warnings } = build(job('firing'));
    expect(warnings).toEqual([]);
    expect(body.routing_key).toBe(KEY);
    expect(body.client).toBe('funnelwatch');
    expect(body.payload).toMatchObject({
      summary: 'checkout-conversion: conversion 41.2% vs expected 60.1% (−31%) [platform=android]',
      source: 'funnelwatch',
      severity: 'critical',
      timestamp: new Date(AT).toISOString(),
      component: 'checkout',
      group: 'funnels',
      class: 'conversion',
    });
    const d = body.payload.custom_details;
    expect(d).toMatchObject({
      rule: 'checkout-conversion',
      funnel: 'checkout',
      segment: 'platform=android',
      owner: 'payments-team',
      labels: { team: 'payments' },
      incident_id: `checkout-conversion|platform=android@${AT}`,
      rule_set_version: 'rs-42',
    });
    expect(d.evidence).toMatchObject({
      observed: 508,
      expected: 741.6,
      observed_rate: 0.412,
      expected_rate: 0.601,
      change: '−31%',
      volume: 1234,
      window: '15 min',
      p_value: 2e-7,
      statistic: 5.1,
      threshold: 3.2,
      onset: new Date(ONSET).toISOString(),
      baseline: { kind: 'seasonal', weeksUsed: 4 },
      noise: { tau2: 0.01, tau2Slow: 0.02 },
    });
    expect(d).not.toHaveProperty('likely_deploys');
    expect(d).not.toHaveProperty('drilldown');
    expect(build(job('firing', alert({ metric: 'step_volume' }))).body.payload.class).toBe('step_volume');
    expect(pagerDutyEvent(job('firing'), KEY, { source: 'fw-prod-1' }).body).toMatchObject({
      payload: { source: 'fw-prod-1' },
    });
  });

  it('puts the context (deploys, drill-down) in the details when present', () => {
    const a = alert({
      context: {
        deploys: [
          {
            service: 'payments-service',
            version: 'v2.3.1',
            ts: ONSET - 120_000,
            score: 0.9,
            why: '2 min before the onset',
          },
        ],
        drilldown: {
          classification: 'localised',
          summary: 'payment_provider=stripe carries 92% of the deficit',
          dimensions: [],
        },
      },
    });
    const d = build(job('firing', a)).body.payload.custom_details;
    expect(d.likely_deploys).toEqual([
      expect.objectContaining({
        service: 'payments-service',
        version: 'v2.3.1',
        deployed_at: new Date(ONSET - 120_000).toISOString(),
      }),
    ]);
    expect(d.drilldown).toMatchObject({ classification: 'localised' });
  });

  it('maps severities one to one', () => {
    for (const s of ['critical', 'warning', 'info'] as const) {
      expect(build(job('firing', alert({ severity: s }))).body.payload.severity).toBe(s);
    }
    const odd = build(job('firing', alert({ severity: 'page-me' as AlertTransition['severity'] })));
    expect(odd.body.payload.severity).toBe('error');
    expect(odd.warnings.join()).toMatch(/unknown severity/);
  });
});

describe('summary', () => {
  it('is cut to 1024 code points, never splitting a surrogate pair', () => {
    const rule = `r-${'🚀'.repeat(1500)}`;
    const { body, warnings } = build(job('firing', alert({ rule })));
    const s = body.payload.summary;
    expect(codePoints(s)).toBe(1024);
    expect(s.length).toBeGreaterThan(1024); // UTF-16 units: a cut by .length would have split pairs or lost text
    expect(s.endsWith('…')).toBe(true);
    expect(s).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    expect(warnings.join()).toMatch(/summary cut/);
  });

  it('has no newlines even when labels and values have them', () => {
    const s = build(job('firing', alert({ segment: { dimension: 'city', value: 'a\nb' } }))).body.payload.summary;
    expect(s).not.toMatch(/[\r\n]/);
  });

  it('falls back to evidence-free text', () => {
    const s = build(job('firing', alert({ evidence: undefined, segment: null }))).body.payload.summary;
    expect(s).toBe('checkout-conversion');
  });
});

describe('links', () => {
  it('has the runbook and the dashboard with funnel, rule and segment URL-encoded', () => {
    const a = alert({ rule: 'checkout drop', segment: { dimension: 'city', value: 'São Paulo&x=1' } });
    const { body } = build(job('firing', a), {
      dashboardUrl: 'https://grafana.example.com/d/funnels?var-funnel={funnel}&var-rule={rule}&var-segment={segment}',
    });
    expect(body.links).toEqual([
      { href: 'https://wiki.example.com/runbooks/checkout', text: 'Runbook' },
      {
        href: 'https://grafana.example.com/d/funnels?var-funnel=checkout&var-rule=checkout%20drop&var-segment=city%3DS%C3%A3o%20Paulo%26x%3D1',
        text: 'Dashboard: checkout',
      },
    ]);
    expect(body.client_url).toBe(body.links![1]!.href);
    expect(new URL(body.links![1]!.href).searchParams.get('var-segment')).toBe('city=São Paulo&x=1');
  });

  it('fills an empty segment for the whole funnel and leaves out what is not a URL', () => {
    expect(fillDashboardUrl('https://x/{funnel}/{segment}', { funnel: 'checkout', rule: 'r', segment: null })).toBe(
      'https://x/checkout/',
    );
    const { body, warnings } = build(job('firing', alert({ runbook: 'ask #payments' })), {
      dashboardUrl: 'grafana/{funnel}',
    });
    expect(body.links).toBeUndefined();
    expect(body.payload.custom_details.runbook).toBe('ask #payments');
    expect(warnings.join()).toMatch(/dashboard/);
  });
});

describe('512 KB limit', () => {
  it('drops the largest custom_details parts first, notes it and warns', () => {
    const dims = Array.from({ length: 40 }, (_, i) => ({
      dimension: `dim${i}`,
      top: Array.from({ length: 200 }, (_, j) => ({
        value: `value-${j}-${'v'.repeat(40)}`,
        expected: 10,
        observed: 5,
        deficitShare: 0.01,
        rateChanged: true,
      })),
    }));
    const a = alert({
      description: 'd'.repeat(100_000),
      context: { drilldown: { classification: 'localised', summary: 'somewhere', dimensions: dims } },
    });
    const { body, warnings } = build(job('firing', a));
    const bytes = Buffer.byteLength(JSON.stringify(body));
    expect(bytes).toBeLessThanOrEqual(PAGERDUTY_MAX_EVENT_BYTES);
    const d = body.payload.custom_details;
    expect(d).not.toHaveProperty('drilldown');
    expect(d.description).toBe('d'.repeat(100_000)); // smaller, and enough room once the drill-down went
    expect(d.evidence).toBeDefined();
    expect(d.rule).toBe('checkout-conversion');
    expect(String(d.funnelwatch_note)).toMatch(/drilldown/);
    expect(warnings.join()).toMatch(/dropped custom_details drilldown/);
  });

  it('keeps dropping while still too large', () => {
    const a = alert({ description: 'd'.repeat(400_000), labels: { big: 'l'.repeat(300_000) } });
    const { body, warnings } = build(job('firing', a));
    expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThanOrEqual(PAGERDUTY_MAX_EVENT_BYTES);
    expect(body.payload.custom_details).not.toHaveProperty('description');
    expect(body.payload.custom_details.labels).toEqual({ big: 'l'.repeat(300_000) });
    expect(warnings.join()).toMatch(/description/);
  });
});

describe('delivery_failed', () => {
  it('is its own incident per failing receiver, critical for a missing page', () => {
    const failure = {
      receiver: 'slack-payments',
      jobId: 'x/firing/slack-payments',
      event: 'firing' as const,
      code: 'SLACK_CHANNEL_NOT_FOUND',
      reason: 'channel_not_found: invite the bot',
    };
    const { body } = build(job('delivery_failed', alert(), { failure, receiver: 'pd-ops' }));
    expect(body.event_action).toBe('trigger');
    expect(body.dedup_key).toBe(deliveryFailedDedupKey('slack-payments'));
    expect(body.dedup_key).toBe('funnelwatch/delivery-failed/slack-payments');
    expect(body.payload.severity).toBe('critical');
    expect(body.payload.summary).toMatch(
      /receiver slack-payments refused the firing of checkout-conversion.*channel_not_found: invite the bot \(SLACK_CHANNEL_NOT_FOUND\)/,
    );
    expect(body.payload.custom_details.failure).toEqual(failure);
    expect(body.payload.class).toBe('delivery_failed');

    const lostResolve = build(job('delivery_failed', alert(), { failure: { ...failure, event: 'resolved' } })).body;
    expect(lostResolve.payload.severity).toBe('warning');
  });

  it("delivery_recovered resolves the failing receiver's self-alert incident", () => {
    const failure = { receiver: 'slack-payments', jobId: 'x', event: 'firing' as const, code: 'SLACK_X', reason: 'r' };
    const { body } = build(job('delivery_recovered', alert(), { failure, receiver: 'pd-ops' }));
    expect(body.event_action).toBe('resolve');
    expect(body.dedup_key).toBe(deliveryFailedDedupKey('slack-payments'));
    expect(body.payload.summary).toBe('funnelwatch: receiver slack-payments delivers again');
    expect(body.payload.class).toBe('delivery_failed');
  });
});

describe('routingKeyId', () => {
  it('is 16 hex digits of sha256 and not the key', () => {
    const id = routingKeyId(KEY);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(KEY).not.toContain(id);
    expect(routingKeyId(KEY)).toBe(id);
    expect(routingKeyId(KEY.replace('e', 'f'))).not.toBe(id);
  });
});
