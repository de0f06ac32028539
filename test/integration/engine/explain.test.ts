/**
 * `GET /v1/rules/<name>/explain` and `funnelwatch explain`, against the real daemon (in-process, real Redis, the
 * shipped rules, HTTP ingest) on a hand-moved clock: each reason a series gives, and the API's refusals.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Daemon } from '../../../src/app/daemon.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { RuleExplanation } from '../../../src/engine/rule-explain.js';
import { startInProcessDaemon } from '../../support/daemon.js';

const TOKEN = 'explain-token';
const MIN = 60_000;

async function api(d: Daemon, path: string, init: { method?: string; body?: unknown; token?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${init.token ?? TOKEN}` };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${d.httpUrl}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
}

async function explain(d: Daemon, rule: string, query = ''): Promise<RuleExplanation> {
  const r = await api(d, `/v1/rules/${rule}/explain${query}`);
  expect(r.status).toBe(200);
  return (await r.json()) as RuleExplanation;
}

/** Three hours of checkouts, 5 a minute, 80 % of payments completing; every tenth minute one goes through adyen. */
function checkouts(t0: number) {
  const events = [];
  for (let m = 180; m >= 1; m--) {
    for (let j = 0; j < 5; j++) {
      const ts = t0 - m * MIN + j * 1000;
      const id = `c${m}-${j}`;
      const provider = j === 0 && m % 10 === 0 ? 'adyen' : 'stripe';
      const attrs = { platform: j % 2 ? 'ios' : 'web', payment_provider: provider };
      events.push({ id: `${id}-s`, type: 'checkout_started', ts, entity: id, attrs });
      events.push({ id: `${id}-p`, type: 'payment_submitted', ts: ts + 5000, entity: id, attrs });
      if (j !== 4) {
        events.push({
          id: `${id}-c`,
          type: 'order_completed',
          ts: ts + 10_000,
          entity: id,
          attrs: { ...attrs, status: 'paid' },
        });
      }
    }
  }
  return events;
}

function startDaemon(clock: ManualClock): Promise<Daemon> {
  return startInProcessDaemon(TOKEN, { FW_INSTANCE_ID: 'explain' }, { clock });
}

async function ingest(d: Daemon, events: unknown[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) {
    const r = await api(d, '/v1/events', { method: 'POST', body: events.slice(i, i + 1000) });
    expect(r.status).toBeLessThan(300);
  }
}

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['dist/main.js', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '',
      err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.once('exit', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

describe('explain a rule', () => {
  it('says per series why: numbers, low volume, baseline fallback, silenced, stale data (inhibited)', async () => {
    const t0 = Math.floor(Date.now() / MIN) * MIN;
    const clock = new ManualClock(t0 + 30_000);
    const d = await startDaemon(clock);
    await ingest(d, checkouts(t0));

    // ok, with numbers: the payment-success ratio at 80 % against its 30-minute trailing baseline.
    const ok = await explain(d, 'checkout-payment-success-drop');
    expect(ok).toMatchObject({ rule: 'checkout-payment-success-drop', funnel: 'checkout', direction: 'drop' });
    expect(ok.data).toMatchObject({ stale: false, noTraffic: false });
    const wide = ok.series.find((s) => s.segment === null)!;
    expect(wide).toMatchObject({ label: 'funnel-wide', condition: 'ok', status: expect.any(String) });
    expect(wide.reasons.map((r) => r.code)).toEqual(['ok']);
    expect(wide.now!.observedRate).toBeCloseTo(0.8, 2);
    expect(wide.now!.expectedRate).toBeCloseTo(0.8, 2);
    expect(wide.now!.statistic).toBeLessThan(wide.now!.threshold);
    expect(wide.summary).toMatch(/^ok: 80\.0 % observed vs 80\.0 % expected over the \d+-minute window/);
    expect(wide.traffic).toMatchObject({ perMinute: 5, rate: expect.closeTo(0.8, 2), rateFrom: 'baseline' });
    expect(wide.detectable.map((x) => x.withinMinutes)).toEqual([15, 60, 240]);
    // 5 payments a minute: 15 minutes hold fewer than min_volume 100 of them, so only a large drop shows in the
    // longer windows within 15 minutes; smaller ones within the hour, smaller still within four.
    const [d15, d60, d240] = wide.detectable.map((x) => x.change!);
    expect(wide.detectable[0]!.windowMinutes).toBeGreaterThanOrEqual(32);
    expect(d15).toBeGreaterThan(d60!);
    expect(d60).toBeGreaterThan(d240!);
    expect(d240).toBeGreaterThanOrEqual(0.05);
    expect(wide.silencedBy).toEqual([]);
    expect(wide.inhibitedBy).toBeNull();

    // Low volume and the seasonal fallback: adyen's checkouts on the cohort rule (4 weeks wanted, none kept).
    const adyen = await explain(d, 'checkout-completion-drop', '?segment=payment_provider%3Dadyen');
    expect(adyen.series.map((s) => s.label)).toEqual(['payment_provider=adyen']);
    const a = adyen.series[0]!;
    expect(a.condition).toBe('insufficient');
    expect(a.reasons.map((r) => r.code)).toEqual(expect.arrayContaining(['low_volume', 'baseline_fallback']));
    expect(a.reasons.find((r) => r.code === 'low_volume')!.text).toBe(
      'too little traffic: needs 200 started in a window of at most 240 min (min_volume), has 18 in the last 240 min',
    );
    expect(a.reasons.find((r) => r.code === 'baseline_fallback')!.text).toBe(
      'seasonal baseline has 0 of 4 week(s) of history; using the trailing 4 h instead, with wider uncertainty',
    );
    expect(a.baseline).toMatchObject({ kind: 'trailing', weeksWanted: 4, weeksAvailable: 0 });
    expect(a.volume).toEqual({ windowMinutes: 240, count: 18, minVolume: 200 });
    expect(a.detectable.every((x) => x.change === null)).toBe(true);
    const cohortWide = (await explain(d, 'checkout-completion-drop')).series.find((s) => s.segment === null)!;
    expect(cohortWide.reasons.map((r) => r.code)).toContain('baseline_fallback');

    // Silenced: a silence on the rule names itself in every series.
    const sil = await api(d, '/v1/silences', {
      method: 'POST',
      body: {
        matchers: [{ name: 'rule', value: 'checkout-payment-success-drop' }],
        duration: '2h',
        createdBy: 'ana',
        comment: 'PSP maintenance',
      },
    });
    expect(sil.status).toBe(201);
    const { id } = (await sil.json()) as { id: string };
    const muted = (await explain(d, 'checkout-payment-success-drop')).series[0]!;
    expect(muted.silencedBy).toEqual([
      {
        id,
        comment: 'PSP maintenance',
        createdBy: 'ana',
        endsAt: new Date(t0 + 30_000 + 2 * 3_600_000).toISOString(),
        receivers: ['pagerduty-checkout', 'slack-payments'],
      },
    ]);
    expect(muted.reasons.find((r) => r.code === 'silenced')!.text).toBe(
      `silenced by ${id} until ${muted.silencedBy[0]!.endsAt} (PSP maintenance, by ana) ` +
        'at pagerduty-checkout, slack-payments',
    );

    // Stale data: half an hour later and nothing new, while 5 checkouts a minute were expected.
    clock.set(t0 + 30 * MIN);
    const stale = await explain(d, 'checkout-payment-success-drop');
    expect(stale.data.stale).toBe(true);
    // The newest event is the last completion, 47 s before t0.
    expect(stale.data.ageSeconds).toBe(30 * 60 + 47);
    const s = stale.series.find((x) => x.segment === null)!;
    expect(s.condition).toBe('inhibited');
    expect(s.inhibitedBy).toEqual({ guard: 'data_stale' });
    expect(s.reasons[0]!.code).toBe('stale_data');
    expect(s.summary).toMatch(/^data is stale: no event applied for \d+ s .*; the rule is inhibited until events flow/);
  });

  it('refuses an unknown rule (404), a malformed or foreign segment (400) and a missing token (401)', async () => {
    const d = await startDaemon(new ManualClock(Date.now()));
    const unknown = await api(d, '/v1/rules/nope/explain');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      error: 'UNKNOWN_RULE',
      message: expect.stringMatching(/^no rule named "nope" in the active rule set; rules: checkout-completion-drop/),
    });
    const bad = await api(d, '/v1/rules/checkout-completion-drop/explain?segment=stripe');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: 'BAD_REQUEST',
      message: 'segment must be dimension=value (e.g. payment_provider=ios); got "stripe"',
    });
    const foreign = await api(d, '/v1/rules/checkout-completion-drop/explain?segment=region%3Deu');
    expect(foreign.status).toBe(400);
    expect(((await foreign.json()) as { message: string }).message).toBe(
      'the rule is not segmented by "region": its segments are payment_provider, platform, app_version',
    );
    expect((await api(d, '/v1/rules/checkout-completion-drop/explain', { token: 'wrong' })).status).toBe(401);
    // The funnel has no data yet: the rule says so instead of failing.
    const empty = await explain(d, 'checkout-completion-drop');
    expect(empty.data.detail).toBe('no event of funnel checkout has been applied yet');
    expect(empty.series).toEqual([]);
  });

  it('funnelwatch explain prints the explanation as text, --json as JSON; exits 2 on a refusal', async () => {
    const t0 = Math.floor(Date.now() / MIN) * MIN;
    const d = await startDaemon(new ManualClock(t0 + 30_000));
    await ingest(d, checkouts(t0));
    const env = { FUNNELWATCH_URL: d.httpUrl, FUNNELWATCH_TOKEN: TOKEN };
    const text = await runCli(['explain', 'checkout-payment-success-drop'], env);
    expect(text.err).toBe('');
    expect(text.code).toBe(0);
    const lines = text.out.trim().split('\n');
    expect(lines[0]).toBe(
      'rule checkout-payment-success-drop (funnel checkout): ratio completed / payment, pages on a drop of 10 % ' +
        'or more, min_volume 100, 1 false alarm(s)/week',
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^funnel-wide: inactive — ok: 80\.0 % observed vs 80\.0 % expected over the 240-minute window \(\+0\.0 %\)/,
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^ {2}traffic 5\.0\/min at 80\.0 %; smallest drop it would catch: \d+\.\d % within 15 min, \d+\.\d % within 60 min/,
      ),
    );
    const json = await runCli(
      ['explain', 'checkout-completion-drop', '--segment', 'payment_provider=adyen', '--json'],
      env,
    );
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.out) as RuleExplanation;
    expect(parsed.series.map((s) => s.label)).toEqual(['payment_provider=adyen']);
    const refused = await runCli(['explain', 'nope'], env);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/^funnelwatch: no rule named "nope" in the active rule set/);
  });
});
