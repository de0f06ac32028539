/**
 * The dashboard in a real headless Chromium (Debian's, driven by playwright-core; FW_CHROMIUM overrides the path)
 * against an in-process daemon holding a replayed incident (fixture.ts): the login, the overview's funnels and
 * firing rule, the rule page's chart (the points it plots are the points the page received; the canvas is drawn;
 * the deploy marker and the alert span sit at their times), the insufficient rule's reason, and a silence created
 * in the page that the API then lists; the explain report on the rule page and in the overview's "why" column; and a
 * step whose `where` filter turns its events away, on the overview and on the page of a rule reading it.
 * A gate's evidence drawn: verdict, both arms, the effect's interval against the harm, the evidence over time.
 * Screenshots of each page go to .tmp/screenshots/dashboard/.
 */
import { mkdirSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { chromium, type Locator, type Page } from 'playwright-core';
import { eventually } from '../../support/env.js';
import { startInProcessDaemon } from '../../support/daemon.js';
import { canaryMinutes, canaryRulesDir, MIN } from '../../support/canary-shop.js';
import { ordersMissingPaidFilter, startWebhook } from '../../support/shop-daemon.js';
import { daemonWithIncident, TOKEN } from './fixture.js';

const SHOTS = '.tmp/screenshots/dashboard';

async function browserPage(): Promise<Page> {
  const browser = await chromium.launch({
    executablePath: process.env.FW_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  onTestFinished(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  return page;
}

/** Waits until the element's text holds `text` (the page fills in after its JSON arrives). */
async function shows(loc: Locator, text: string): Promise<void> {
  await eventually(
    async () => (((await loc.first().textContent({ timeout: 20_000 })) ?? '').includes(text) ? true : undefined),
    20_000,
    `the page to show ${JSON.stringify(text)}`,
  );
}

describe('the dashboard in Chromium', () => {
  it('shows the incident: overview, the rule chart with deploy and alert span, why quiet, a silence', async () => {
    mkdirSync(SHOTS, { recursive: true });
    const { url, deployTs, firedAt } = await daemonWithIncident();
    const page = await browserPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));

    // Not logged in: the page sends us to the login form; a wrong token is refused there.
    await page.goto(`${url}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('#token', 'wrong');
    await page.click('button[type=submit]');
    await shows(page.locator('.error'), 'not valid');
    await page.screenshot({ path: `${SHOTS}/login.png` });
    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(`${url}/`);

    // Overview: the funnel, the firing rule, the insufficient rule with its reason.
    const shop = page.locator('section[data-funnel=shop]');
    await shop.waitFor();
    await shows(shop.locator('tr[data-rule=paid-drop] .badge'), 'firing');
    const strict = shop.locator('tr[data-rule=paid-drop-strict]');
    await shows(strict.locator('.badge'), 'insufficient');
    await shows(strict.locator('.reason'), 'min_volume');
    // The "why" column has the explain report's top reason, in words.
    await shows(strict.locator('.reason'), 'too little traffic: needs 1000000 started events');
    await shows(page.locator('table.incidents'), 'paid-drop');
    await page.screenshot({ path: `${SHOTS}/overview.png`, fullPage: true });

    // Rule page over 6 h: the chart plots what the page received.
    await page.goto(`${url}/#/rule/paid-drop?span=6h`);
    await page.locator('[data-chart=rule][data-drawn="1"]').waitFor();
    // In-page code as text: the test's TypeScript has no DOM types.
    const check = (await page.evaluate(`(() => {
      const u = window.fwCharts.rule;
      const canvas = document.querySelector('[data-chart=rule] canvas');
      const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let inked = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
      const marker = (sel) => {
        const el = document.querySelector('[data-chart=rule] ' + sel);
        return el ? { from: Number(el.dataset.from), left: parseFloat(el.style.left), title: el.title } : null;
      };
      return {
        received: window.fwRuleData.series,
        plotted: u.data.map((s) => Array.from(s)),
        inked,
        deploy: marker('.fw-deploy'),
        span: marker('.fw-span'),
        positions: [u.valToPos(${deployTs} / 1000, 'x'), u.valToPos(${firedAt} / 1000, 'x')],
      };
    })()`)) as {
      received: { t: number[]; observed: (number | null)[]; expected: (number | null)[] };
      plotted: (number | null)[][];
      inked: number;
      deploy: { from: number; left: number; title: string } | null;
      span: { from: number; left: number; title: string } | null;
      positions: number[];
    };
    expect(check.plotted[0]).toEqual(check.received.t.map((t) => t / 1000));
    expect(check.plotted[1]).toEqual(check.received.observed);
    expect(check.plotted[2]).toEqual(check.received.expected);
    // 6 h of 1-minute buckets; the drop's minutes are below what was expected.
    expect(check.received.t.length).toBe(360);
    const last = check.received.observed.filter((x): x is number => x !== null).slice(-5);
    expect(Math.max(...last)).toBeLessThan(0.3);
    expect(check.received.expected.filter((x) => x !== null).length).toBeGreaterThan(30);
    expect(check.inked).toBeGreaterThan(1000);
    expect(check.deploy?.from).toBe(deployTs);
    expect(check.deploy?.title).toContain('checkout-api 2.4.1');
    expect(check.span?.from).toBe(firedAt);
    const positions = check.positions;
    expect(Math.abs(check.deploy!.left - positions[0]!)).toBeLessThan(1);
    expect(Math.abs(check.span!.left - positions[1]!)).toBeLessThan(1);
    // The firing rule's explain: observed vs expected with the statistic and its threshold.
    const firing = page.locator('table.explain tr[data-series=funnel-wide]');
    await shows(firing.locator('li[data-code=breach]'), 'breach:');
    await shows(firing.locator('td.now'), 'threshold');
    await page.screenshot({ path: `${SHOTS}/rule.png`, fullPage: true });

    // The strict rule's page says why it is quiet.
    await page.goto(`${url}/#/rule/paid-drop-strict?span=6h`);
    // The explain report, per series: the reason in words, the volume against min_volume, and what it would catch.
    const wide = page.locator('table.explain tr[data-series=funnel-wide]');
    await shows(wide.locator('li[data-code=low_volume]'), 'too little traffic: needs 1000000 started events');
    await shows(wide.locator('.badge'), 'insufficient');
    await shows(wide.locator('td.detectable'), '240 min:');
    await shows(page.locator('table.explain tr[data-series="platform=ios"]'), 'needs 1000000');
    await page.screenshot({ path: `${SHOTS}/rule-insufficient.png`, fullPage: true });

    // A silence created in the page is in the API.
    await page.goto(`${url}/#/silences`);
    await page.fill('input[name=matchers]', 'rule=paid-drop');
    await page.fill('input[name=createdBy]', 'browser-test');
    await page.fill('input[name=comment]', 'made in the dashboard');
    await page.click('form.new-silence button[type=submit]');
    await shows(page.locator('.msg'), 'Created silence');
    const listed = await eventually(async () => {
      const r = await fetch(`${url}/v1/silences?state=active`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const b = (await r.json()) as { silences: { comment: string; createdBy: string }[] };
      return b.silences.find((s) => s.comment === 'made in the dashboard');
    });
    expect(listed.createdBy).toBe('browser-test');
    await page.screenshot({ path: `${SHOTS}/silences.png`, fullPage: true });

    // The backtest preview: the live rule over the last 6 h would have fired on the drop; a bad paste is refused
    // with where it is wrong.
    await page.goto(`${url}/#/backtest`);
    // (Preact sets an option's value as a property, not an attribute: wait for its text.)
    await page.locator('select[name=rule] option', { hasText: 'paid-drop' }).first().waitFor({ state: 'attached' });
    await page.selectOption('select[name=rule]', 'paid-drop');
    await page.selectOption('select[name=span]', '6h');
    await page.click('form.backtest-form button[type=submit]');
    await eventually(
      async () => ((await page.locator('table.backtest-incidents').count()) > 0 ? true : undefined),
      120_000,
      'the backtest answer',
    );
    await shows(page.locator('table.backtest-incidents'), 'fired');
    await page.locator('[data-chart=backtest][data-drawn="1"]').waitFor();
    expect(await page.locator('[data-chart=backtest] .fw-span').count()).toBeGreaterThan(0);
    await page.screenshot({ path: `${SHOTS}/backtest.png`, fullPage: true });
    await page.fill('textarea[name=yaml]', 'funnel:\n  name: shop\nrules:\n  - name: paid-drop\n    drop: [oops\n');
    await page.click('form.backtest-form button[type=submit]');
    await shows(page.locator('pre.error'), 'pasted.yaml:');
    expect(errors).toEqual([]);
  }, 180_000);

  it('shows a step whose where filter matches none of its events, on the overview and the rule page', async () => {
    mkdirSync(SHOTS, { recursive: true });
    // The shipped checkout funnel: its completed step wants status=paid; these orders say succeeded.
    const d = await startInProcessDaemon(TOKEN, { FW_INSTANCE_ID: 'dash-unmatched' });
    const url = d.httpUrl;
    const now = Date.now();
    const events = ordersMissingPaidFilter(now - 3 * 60_000);
    const r = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(r.status).toBeLessThan(300);

    const page = await browserPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${url}/login`);
    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(`${url}/`);

    // Overview, data freshness: funnel, step, filter, matched of seen, and the values the events had.
    const row = page.locator('table.unmatched tr[data-step="checkout/completed"]');
    await shows(row, 'where status=paid');
    await shows(row, '0 / 30');
    await shows(row.locator('.sample'), 'status=succeeded ×29');
    await shows(row.locator('.sample'), 'status=pending ×1');
    await page.screenshot({ path: `${SHOTS}/overview-unmatched.png`, fullPage: true });

    // The page of a rule reading that step says so, in its table and among its series' reasons.
    await page.goto(`${url}/#/rule/checkout-completion-drop`);
    const onRule = page.locator('.explain table.unmatched tr[data-step="checkout/completed"]');
    await shows(onRule, '0 / 30');
    await shows(
      page.locator('table.explain tr[data-series=funnel-wide] li[data-code=unmatched_filter]'),
      'its filter where status=paid matched 0 of 30 order_completed events',
    );
    await page.screenshot({ path: `${SHOTS}/rule-unmatched.png`, fullPage: true });
    // A rule that does not read the step is not told about it.
    await page.goto(`${url}/#/rule/checkout-starts-collapse`);
    await page.locator('table.explain tr[data-series=funnel-wide]').waitFor();
    expect(await page.locator('table.unmatched').count()).toBe(0);
    expect(errors).toEqual([]);
  }, 120_000);

  it('draws a gate comparison: verdict, both arms, the effect with its interval, the evidence over time', async () => {
    mkdirSync(SHOTS, { recursive: true });
    const hook = await startWebhook();
    onTestFinished(() => hook.close());
    const d = await startInProcessDaemon(TOKEN, { FW_RULES_DIR: canaryRulesDir(hook.url) });
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    // A canary converting at half the baseline's rate: the gate fails it.
    const t0 = Math.floor((Date.now() - 120 * MIN) / MIN) * MIN;
    const arms = [
      { version: '5.2.0', perMinute: 180, rate: 0.7 },
      { version: '5.3.0', perMinute: 20, rate: 0.35 },
    ];
    const events = canaryMinutes(t0, 0, 40, arms);
    for (let i = 0; i < events.length; i += 5_000) {
      const r = await fetch(`${d.httpUrl}/v1/events`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify(events.slice(i, i + 5_000)),
      });
      expect(r.status).toBe(200);
    }
    const verdict = (await (
      await fetch(`${d.httpUrl}/v1/gates/canary/verdict?canary=5.3.0&baseline=5.2.0`, { headers: auth })
    ).json()) as { verdict: string; timeline: unknown[] };
    expect(verdict.verdict).toBe('fail');
    expect(verdict.timeline.length).toBeGreaterThan(1);

    const page = await browserPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${d.httpUrl}/login`);
    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(`${d.httpUrl}/`);
    await page.goto(`${d.httpUrl}/#/gates`);
    await page.fill('input[name=canary]', '5.3.0');
    await page.fill('input[name=baseline]', '5.2.0');
    await page.click('.gates form button[type=submit]');
    const ev = page.locator('.gate-evidence[data-verdict=fail]');
    await shows(ev.locator('.badge'), 'fail');
    await shows(ev.locator('tr[data-arm=canary]'), '5.3.0');
    await shows(ev.locator('tr[data-arm=baseline]'), '5.2.0');
    await shows(ev.locator('.effect-text'), 'harm guarded against: −20%');
    expect(await ev.locator('svg.effect rect').count()).toBe(1);
    await page.locator('[data-chart=gate-canary][data-drawn="1"]').waitFor();
    expect(await page.locator('.gates pre').count()).toBe(0);
    await page.screenshot({ path: `${SHOTS}/gate.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 120_000);
});
