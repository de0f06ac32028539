/**
 * Slack Block Kit built from alert deliveries: every event kind, the context placeholders, escaping of text that
 * comes from events and rule files, and Slack's limits under any input (property test); plus the shared text
 * helpers of format.ts it rests on (headline, truncation on code points).
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import type { Evidence } from '../../../src/model/evidence.js';
import type { AlertContext } from '../../../src/model/alert-context.js';
import type { DeliveryEvent, DeliveryJob } from '../../../src/notify/receiver.js';
import { fillDashboardUrl, headline, incidentStart } from '../../../src/notify/format.js';
import { truncateCodePoints, truncateUtf16 } from '../../../src/core/text.js';
import {
  BlockKitBuilder,
  SLACK_LIMITS,
  escapeMrkdwn,
  fitMrkdwn,
  slackMessage,
  slackThreadReply,
  type SlackBlock,
  type SlackMessage,
} from '../../../src/notify/slack-message.js';

const FIRED = Date.UTC(2025, 0, 6, 12, 8);
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
    evaluatedUpTo: FIRED,
    baseline: { kind: 'seasonal', weeksUsed: 4 },
    ...over,
  };
}

function alert(over: Partial<AlertTransition> = {}): AlertTransition {
  return {
    id: `checkout-completion-drop|payment_provider=stripe@${FIRED}#2`,
    kind: 'firing',
    at: FIRED,
    rule: 'checkout-completion-drop',
    funnel: 'checkout',
    segment: { dimension: 'payment_provider', value: 'stripe' },
    severity: 'critical',
    notify: ['slack'],
    owner: 'payments-team',
    runbook: 'https://wiki.example.com/runbooks/checkout?x=1&y=2',
    labels: { team: 'payments' },
    incidentId: `checkout-completion-drop|payment_provider=stripe@${FIRED}`,
    from: 'pending',
    to: 'firing',
    evidence: evidence(),
    ruleSetVersion: 'rs-7',
    ...over,
  };
}

function job(event: DeliveryEvent, over: Partial<AlertTransition> = {}, extra: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    id: `t#2/${event}/slack`,
    receiver: 'slack',
    event,
    alert: alert(over),
    createdAt: FIRED + 60 * 60_000,
    attempt: 0,
    ...extra,
  };
}

const CONTEXT: AlertContext = {
  deploys: [
    {
      service: 'payments-service',
      version: '1.42.0',
      environment: 'production',
      ts: ONSET - 8 * 60_000,
      commit: 'abcdef1234567890',
      author: 'alice',
      url: 'https://ci.example.com/deploys/1',
      score: 0.9,
      why: '8 min before the onset; payments-service is a service of checkout',
    },
    { service: 'web', version: '2.0.1', ts: ONSET - 30 * 60_000, score: 0.5, why: '30 min before' },
    { service: 'search', version: '9.9', ts: ONSET - 50 * 60_000, score: 0.2, why: 'same deploy window' },
    { service: 'fourth', version: '1', ts: ONSET - 55 * 60_000, score: 0.1, why: 'should not be listed' },
  ],
  drilldown: {
    classification: 'localised',
    summary: 'payment_provider=stripe carries 92% of the deficit (its rate fell 41%)',
    dimensions: [
      {
        dimension: 'payment_provider',
        top: [{ value: 'stripe', expected: 300, observed: 170, deficitShare: 0.92, rateChanged: true }],
      },
    ],
  },
};

/** All mrkdwn and plain text of a message, blocks and fallback. */
function allText(m: SlackMessage): string {
  return [m.text, ...m.blocks.flatMap(blockTexts)].join('\n');
}

function blockTexts(b: SlackBlock): string[] {
  switch (b.type) {
    case 'header':
      return [b.text.text];
    case 'section':
      return [b.text?.text ?? '', ...(b.fields ?? []).map((f) => f.text)];
    case 'context':
      return b.elements.map((e) => e.text);
    default:
      return [];
  }
}

function header(m: SlackMessage): string {
  const h = m.blocks.find((b) => b.type === 'header');
  return h && h.type === 'header' ? h.text.text : '';
}

const cps = (s: string): number => Array.from(s).length;

/** Every Slack limit, in code points and in UTF-16 units (whichever way Slack counts). */
function expectWithinLimits(m: SlackMessage): void {
  const within = (s: string, max: number) => cps(s) <= max && s.length <= max;
  expect(m.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
  expect(within(m.text, SLACK_LIMITS.fallbackText)).toBe(true);
  expect(m.text.length).toBeGreaterThan(0);
  for (const b of m.blocks) {
    if (b.type === 'header') {
      expect(within(b.text.text, SLACK_LIMITS.headerText)).toBe(true);
      expect(b.text.text.length).toBeGreaterThan(0);
    }
    if (b.type === 'section') {
      expect(b.text !== undefined || (b.fields?.length ?? 0) > 0).toBe(true);
      if (b.text) expect(within(b.text.text, SLACK_LIMITS.sectionText) && b.text.text.length > 0).toBe(true);
      expect(b.fields?.length ?? 0).toBeLessThanOrEqual(SLACK_LIMITS.sectionFields);
      for (const f of b.fields ?? []) expect(within(f.text, SLACK_LIMITS.fieldText) && f.text.length > 0).toBe(true);
    }
    if (b.type === 'context') {
      expect(b.elements.length).toBeLessThanOrEqual(SLACK_LIMITS.contextElements);
      for (const e of b.elements) expect(within(e.text, SLACK_LIMITS.contextText)).toBe(true);
    }
  }
}

describe('format.ts helpers', () => {
  it('headline: rule, metric-aware comparison with signed change, segment', () => {
    expect(headline(alert())).toBe(
      'checkout-completion-drop: conversion 41.2% vs expected 60.1% (−31%) [payment_provider=stripe]',
    );
    const vol = evidence({ observed: 812, expected: 1190 });
    expect(headline(alert({ metric: 'step_volume', evidence: vol, segment: null }))).toBe(
      'checkout-completion-drop: volume 812 vs expected 1,190 (−32%)',
    );
    expect(
      headline(
        alert({
          metric: 'step_duration',
          evidence: evidence({ observedRate: 0.124, expectedRate: 0.05 }),
          segment: null,
        }),
      ),
    ).toBe('checkout-completion-drop: slow share 12.4% vs expected 5.0% (+148%)');
  });

  it('headline survives missing, NaN and null evidence', () => {
    expect(headline(alert({ evidence: undefined, segment: null }))).toBe('checkout-completion-drop');
    const bad = evidence({ observedRate: NaN, expectedRate: null as unknown as number, observed: NaN, expected: 0 });
    expect(headline(alert({ evidence: bad }))).toBe('checkout-completion-drop [payment_provider=stripe]');
    expect(headline(alert({ evidence: { ...bad, guard: 'data_stale' }, segment: null }))).toBe(
      'checkout-completion-drop: data stale',
    );
    expect(headline(alert({ rule: 'a\nb', segment: null, evidence: undefined }))).toBe('a b');
  });

  it('truncateCodePoints never splits a surrogate pair and counts the ellipsis', () => {
    expect(truncateCodePoints('abc', 3)).toEqual({ text: 'abc', truncated: false });
    expect(truncateCodePoints('abcd', 3)).toEqual({ text: 'ab…', truncated: true });
    expect(truncateCodePoints('😀😀😀', 3)).toEqual({ text: '😀😀😀', truncated: false });
    expect(truncateCodePoints('😀😀😀😀', 3)).toEqual({ text: '😀😀…', truncated: true });
    expect(truncateCodePoints('abc', 0)).toEqual({ text: '', truncated: true });
    expect(truncateCodePoints('', 0)).toEqual({ text: '', truncated: false });
    expect(truncateUtf16('a😀b', 3)).toEqual({ text: 'a…', truncated: true });
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.nat(70), (s, n) => {
        const r = truncateCodePoints(s, n);
        expect(cps(r.text)).toBeLessThanOrEqual(Math.max(n, 0));
        expect(r.truncated).toBe(cps(s) > n);
        if (!r.truncated) expect(r.text).toBe(s);
        else expect(s.startsWith(r.text.slice(0, -1))).toBe(true);
        const u = truncateUtf16(s, n);
        expect(u.text.length).toBeLessThanOrEqual(n);
        if (u.truncated) {
          expect(s.startsWith(u.text.slice(0, -1))).toBe(true);
          expect(u.text.slice(0, -1)).not.toMatch(/[\uD800-\uDBFF]$/);
        }
      }),
    );
  });

  it('incidentStart and fillDashboardUrl', () => {
    expect(incidentStart(alert())).toBe(FIRED);
    expect(incidentStart({ incidentId: undefined })).toBeUndefined();
    expect(incidentStart({ incidentId: 'no-time' })).toBeUndefined();
    expect(fillDashboardUrl('https://g.example.com/d?f={funnel}&r={rule}&s={segment}', alert())).toBe(
      'https://g.example.com/d?f=checkout&r=checkout-completion-drop&s=payment_provider%3Dstripe',
    );
  });
});

describe('slackMessage: the incident message', () => {
  it(
    'firing: header, what dropped, observed vs expected, ' +
      'volume, onset, segment, severity, owner, runbook, context',
    () => {
      const m = slackMessage(job('firing', { context: CONTEXT }), {
        dashboardUrl: 'https://g.example.com/d?f={funnel}',
      });
      expect(header(m)).toBe(':red_circle: FIRING: checkout-completion-drop [payment_provider=stripe]');
      expect(m.text).toBe(
        'FIRING: checkout-completion-drop: conversion 41.2% vs expected 60.1% (−31%) [payment_provider=stripe]',
      );
      const summary = m.blocks[1];
      expect(summary?.type).toBe('section');
      const texts = summary ? blockTexts(summary) : [];
      expect(texts[0]).toBe('*conversion 41.2% vs expected 60.1% (−31%)*, since 12:03 UTC');
      expect(texts).toEqual(
        expect.arrayContaining([
          '*Observed*\n41.2%',
          '*Expected*\n60.1%',
          '*Change*\n−31%',
          '*Volume*\n1,234 checkouts in 15 min',
          '*Since*\n2025-01-06 12:03 UTC',
          '*Segment*\npayment_provider=stripe',
          '*Severity*\ncritical',
          '*Owner*\npayments-team',
          '*Runbook*\n<https://wiki.example.com/runbooks/checkout?x=1&amp;y=2|Open runbook>',
          '*Dashboard*\n<https://g.example.com/d?f=checkout|Open dashboard>',
        ]),
      );
      const all = allText(m);
      expect(all).toContain('Rule: *checkout-completion-drop*');
      expect(all).toContain('Funnel: checkout');
      expect(all).toContain('Baseline: seasonal (4 weeks)');
      expect(m.truncated).toEqual([]);
    },
  );

  it('likely cause lists the top 3 deploys with their why; where shows the drill-down', () => {
    const all = allText(slackMessage(job('firing', { context: CONTEXT })));
    expect(all).toContain(
      '*Likely cause*\n• *payments-service* <https://ci.example.com/deploys/1|1.42.0> in production, 11:55 UTC (by alice, `abcdef123456`): 8 min before the onset; payments-service is a service of checkout',
    );
    expect(all).toContain('• *web* 2.0.1, 11:33 UTC: 30 min before');
    expect(all).toContain('• *search* 9.9');
    expect(all).not.toContain('fourth');
    expect(all).toContain(
      '*Where*\npayment_provider=stripe carries 92% of the deficit (its rate fell 41%)\n' +
        '• payment_provider=stripe: 92% of the deficit (its rate moved)',
    );
  });

  it('placeholders when the alert has no context', () => {
    for (const context of [undefined, {}, { deploys: [] }]) {
      const all = allText(slackMessage(job('firing', { context })));
      expect(all).toContain('*Likely cause*\nNo deploy recorded near the onset');
      expect(all).toContain('*Where*\nDrill-down not available');
    }
  });

  it('updated, reminder and resolved show their state in the header', () => {
    expect(header(slackMessage(job('updated')))).toMatch(/: FIRING: /);
    expect(header(slackMessage(job('reminder')))).toMatch(/: FIRING: /);
    const resolvedAt = FIRED + 37 * 60_000;
    const ok = evidence({ observedRate: 0.598, expectedRate: 0.601, onset: null });
    const m = slackMessage(job('resolved', { kind: 'resolved', at: resolvedAt, evidence: ok }));
    expect(header(m)).toBe(':large_green_circle: RESOLVED: checkout-completion-drop [payment_provider=stripe]');
    expect(m.text).toContain('RESOLVED: ');
    expect(m.text).toContain('(lasted 37 min)');
    const all = allText(m);
    expect(all).toContain('*Back to normal* after 37 min: now conversion 59.8% vs expected 60.1% (−0.5%)');
    expect(all).toContain('*Lasted*\n37 min (resolved 2025-01-06 12:45 UTC)');
  });

  it('resolved without an incident id uses the recorded firing time', () => {
    const m = slackMessage(job('resolved', { incidentId: undefined, at: FIRED + 2 * 3_600_000 }), { firedAt: FIRED });
    expect(allText(m)).toContain('*Lasted*\n2 h');
  });

  it('volume rules show counts; odd evidence shows "?" rather than throwing', () => {
    const vol = slackMessage(
      job('firing', { metric: 'step_volume', evidence: evidence({ observed: 812, expected: 1190 }) }),
    );
    expect(allText(vol)).toContain('*Observed*\n812');
    expect(allText(vol)).toContain('*Volume*\nin 15 min');
    const none = slackMessage(
      job('firing', { evidence: undefined, owner: undefined, runbook: undefined, segment: null }),
    );
    const all = allText(none);
    expect(all).toContain('*Observed*\n?');
    expect(all).toContain('*Owner*\n—');
    expect(all).toContain('*Segment*\nwhole funnel');
    expect(all).toContain('*Since*\n2025-01-06 12:08 UTC');
    const nan = evidence({
      observedRate: NaN,
      expectedRate: NaN,
      observed: NaN,
      expected: NaN,
      volume: NaN,
      onset: null,
      windowMinutes: NaN,
    });
    expectWithinLimits(slackMessage(job('updated', { evidence: nan, incidentId: 'x' })));
  });

  it('escapes &, < and > in text from events and rule files, but not in the plain-text header', () => {
    const m = slackMessage(
      job('firing', {
        rule: 'r<!channel>',
        segment: { dimension: 'd&', value: '<@U123> & <https://evil.example|click>' },
        owner: '<!here>',
        description: 'a > b',
        labels: { x: '<y>' },
        runbook: 'not a url <!everyone>',
        context: {
          deploys: [
            { service: '<svc>', version: '<v>', ts: ONSET, score: 1, why: '<!subteam^S1>', url: 'javascript:alert(1)' },
          ],
          drilldown: { classification: 'global', summary: '<b>', dimensions: [] },
        },
      }),
    );
    const mrkdwn = [m.text, ...m.blocks.filter((b) => b.type !== 'header').flatMap(blockTexts)].join('\n');
    expect(mrkdwn).not.toMatch(/<[!@#]/);
    expect(mrkdwn).toContain('d&amp;=&lt;@U123&gt; &amp; &lt;https://evil.example|click&gt;');
    expect(mrkdwn).toContain('*Owner*\n&lt;!here&gt;');
    expect(mrkdwn).toContain('a &gt; b');
    expect(mrkdwn).toContain('*Runbook*\nnot a url &lt;!everyone&gt;');
    expect(mrkdwn).not.toContain('javascript:');
    expect(header(m)).toContain('r<!channel> [d&=<@U123>');
  });

  it('delivery_failed: which receiver, code, reason, job and alert', () => {
    const m = slackMessage(
      job(
        'delivery_failed',
        {},
        {
          failure: {
            receiver: 'pagerduty',
            jobId: 't#2/firing/pagerduty',
            event: 'firing',
            code: 'PD_400',
            reason: 'Invalid routing key <x>',
          },
        },
      ),
    );
    expect(header(m)).toBe(':warning: DELIVERY FAILED: pagerduty');
    const all = allText(m);
    expect(all).toContain(
      '*The `pagerduty` receiver permanently refused a firing for checkout-completion-drop ' +
        '[payment_provider=stripe]: a page may be missing.*',
    );
    expect(all).toContain('Invalid routing key &lt;x&gt;');
    expect(all).toContain('*Code*\n`PD_400`');
    expect(all).toContain('*Job*\n`t#2/firing/pagerduty`');
    expect(all).toContain(
      '*Alert*\ncheckout-completion-drop: conversion 41.2% vs expected 60.1% (−31%) [payment_provider=stripe]',
    );
    expect(m.text).toBe(
      'DELIVERY FAILED: pagerduty refused firing for checkout-completion-drop [payment_provider=stripe] (PD_400)',
    );
    expectWithinLimits(slackMessage(job('delivery_failed')));
  });
});

describe('slackThreadReply', () => {
  it('a conversion measured from a later step names the arrivals it counted', () => {
    const r = slackThreadReply(
      job('reminder', {
        metric: 'ratio_conversion',
        countedFrom: 'payment',
        evidence: evidence({ observedRate: 0.3 }),
      }),
    );
    expect(r.text).toContain('now conversion 30.0% vs expected 60.1% (−50%)');
    const m = slackMessage(job('firing', { metric: 'ratio_conversion', countedFrom: 'payment' }));
    expect(allText(m)).toContain('*Volume*\n1,234 reached payment in 15 min');
  });

  it('updated: what joined and resolved, and the worst member now', () => {
    const base = job('updated', { evidence: evidence({ observedRate: 0.3 }) });
    const member = (key: string, segment: string | null, status: 'firing' | 'resolved') => ({
      key,
      rule: 'checkout-completion-drop',
      segment,
      severity: 'critical' as const,
      incident: key,
      status,
      change: 0.5,
      firedAt: FIRED,
    });
    const r = slackThreadReply({
      ...base,
      group: {
        id: 'g',
        key: 'k',
        labels: { funnel: 'checkout' },
        action: 'update',
        members: [
          member('s', 'payment_provider=stripe', 'firing'),
          member('i', 'platform=ios', 'firing'),
          member('w', null, 'resolved'),
        ],
        worst: 's',
        severityRose: false,
        firing: 2,
        resolved: 1,
        joined: ['i'],
        left: ['w'],
      },
    });
    expect(r.text).toBe(
      ':rotating_light: Incident updated at 13:08 UTC: now also firing: checkout-completion-drop [platform=ios]; ' +
        'resolved: checkout-completion-drop. Worst: *checkout-completion-drop [payment_provider=stripe]* ' +
        'conversion 30.0% vs expected 60.1% (−50%)',
    );
    expect(r.blocks).toHaveLength(1);
  });

  it('reminder: still firing since the onset, for how long, and now', () => {
    const r = slackThreadReply(job('reminder'));
    expect(r.text).toBe(
      ':hourglass_flowing_sand: *checkout-completion-drop [payment_provider=stripe]* ' +
        'still firing since 12:03 UTC (1 h 05 min), ' +
        'now conversion 41.2% vs expected 60.1% (−31%)',
    );
  });

  it('resolved: when and after how long', () => {
    const r = slackThreadReply(
      job('resolved', { at: FIRED + 37 * 60_000, evidence: evidence({ observedRate: 0.6, onset: null }) }),
    );
    expect(r.text).toBe(
      ':large_green_circle: *checkout-completion-drop [payment_provider=stripe]* resolved at 12:45 UTC after 37 min; ' +
        'now conversion 60.0% vs expected 60.1% (−0.2%)',
    );
  });
});

describe('limits', () => {
  it('cuts over-long fields on code points with "…" and lists them', () => {
    const long = '😀'.repeat(5000);
    const m = slackMessage(job('firing', { rule: long, description: long, owner: long, context: CONTEXT }));
    expectWithinLimits(m);
    expect(m.truncated).toEqual(expect.arrayContaining(['header', 'summary.text', 'summary.fields[7]', 'text']));
    expect(header(m).endsWith('…')).toBe(true);
    expect(header(m)).not.toMatch(/[\uD800-\uDBFF]…$/);
  });

  it('the builder caps fields, context elements and blocks, drops empty texts, and says so', () => {
    const b = new BlockKitBuilder()
      .header('h', '')
      .section(
        'many',
        'x',
        Array.from({ length: 12 }, (_, i) => `f${i}`),
      )
      .section('empty', '  ', ['', ' '])
      .context(
        'ctx',
        Array.from({ length: 12 }, (_, i) => `c${i}`),
      );
    for (let i = 0; i < 60; i++) b.divider();
    const m = b.build('');
    expectWithinLimits(m);
    expect(m.truncated).toEqual(['many.fields', 'ctx.elements', 'blocks']);
    expect(header(m)).toBe('funnelwatch');
    expect(m.blocks.filter((x) => x.type === 'section')).toHaveLength(1);
    expect(m.text).toBe('funnelwatch alert');
  });

  it('never leaves half an entity or an unclosed link at a cut', () => {
    expect(fitMrkdwn('ab&amp;cd', 5).text).toBe('ab…');
    expect(fitMrkdwn('ab<https://x.example|y> tail', 12).text).toBe('ab…');
    expect(fitMrkdwn(escapeMrkdwn('a<b'), 3).text).toBe('a…');
  });

  it('property: any alert text and context yields a message within every Slack limit', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 4500 }),
      fc.constantFrom('<!channel>', '&&&<<<>>>', '`*_~', '\n\n', ''),
    );
    const num = fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, 0, null as unknown as number));
    const evid = fc.record({
      observed: num,
      expected: num,
      observedRate: num,
      expectedRate: num,
      volume: num,
      windowMinutes: num,
      onset: num,
      reason: text,
    });
    const deploy = fc.record({
      service: text,
      version: text,
      environment: text,
      ts: num,
      commit: text,
      author: text,
      url: text,
      score: num,
      why: text,
    });
    const value = fc.record({
      value: text,
      expected: num,
      observed: num,
      deficitShare: num,
      rateChanged: fc.boolean(),
    });
    const drill = fc.record({
      classification: fc.constant('localised' as const),
      summary: text,
      dimensions: fc.array(fc.record({ dimension: text, top: fc.array(value, { maxLength: 5 }) }), { maxLength: 5 }),
    });
    const event = fc.constantFrom<DeliveryEvent>('firing', 'updated', 'reminder', 'resolved', 'delivery_failed');
    fc.assert(
      fc.property(
        event,
        text,
        text,
        text,
        text,
        text,
        evid,
        fc.array(deploy, { maxLength: 6 }),
        fc.option(drill),
        fc.dictionary(text, text, { maxKeys: 5 }),
        text,
        text,
        (ev, rule, dim, val, owner, desc, e, deploys, drilldown, labels, reason, dash) => {
          const j = job(
            ev,
            {
              rule,
              funnel: dim,
              segment: { dimension: dim, value: val },
              owner,
              description: desc,
              runbook: val,
              labels,
              ruleSetVersion: desc,
              incidentId: rule,
              evidence: evidence(e),
              context: { deploys, ...(drilldown ? { drilldown } : {}) },
            },
            { failure: { receiver: rule, jobId: val, event: 'firing', code: dim, reason } },
          );
          const m = slackMessage(j, { dashboardUrl: dash, firedAt: FIRED });
          expectWithinLimits(m);
          expect(JSON.stringify(m.blocks.filter((b) => b.type !== 'header'))).not.toMatch(/<[!@#]/);
          expect(m.text).not.toMatch(/<[!@#]/);
          if (ev !== 'delivery_failed' && ev !== 'firing') expectWithinLimits(slackThreadReply(j));
        },
      ),
      { numRuns: 300 },
    );
  });
});
