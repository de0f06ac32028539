/**
 * `funnelwatch demo --story night`: why canary users exist. At 3 a.m. a shop sees about 20 checkouts an hour; a
 * deploy breaks stripe payments, and conversion alone would take hours to prove it. A throw-away redis-server, the
 * daemon in-process with the example rules and the canary users of probes/ (FW_PROBES_DIR, as a user runs them: the
 * daemon's own runner, its probe alerts, its receivers printing on the console), the demo shop served over HTTP,
 * played in simulated minutes at full speed on one ManualClock the shop, the runner and the daemon share:
 *
 *   1. an hour of thin night traffic (NIGHT_CHECKOUTS_PER_HOUR), the customers going through the shop's handlers;
 *      the canary users (signup, a checkout per provider with its test card) run every minute against the shop;
 *   2. payments-service 2.4.1 is deployed (marker posted) and breaks stripe: every stripe payment answers 502;
 *      checkout-stripe fails at `pay`, and after its second failed run (2 of its last 3) the daemon pages, naming
 *      the journey, the step, the answer and the deploy; the real-traffic rule (checkout-payment-success-drop) has
 *      too few payments to judge and says so: its alerts are `insufficient`, not firing;
 *   3. payments-service is rolled back to 2.4.0: the canary user passes again and the page resolves.
 *
 * NightCheck judges the story from what was observed (the runs the daemon stored, the pages its receivers got, the
 * real rule's alert states): the story exits 0 only when all of it held.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import { formatDuration } from '../core/text.js';
import { SYNTHETIC_ATTR } from '../events/event.js';
import type { DeliveryJob } from '../notify/receiver.js';
import { probeRuleName } from '../probes/probe-alerts.js';
import { RedisProbeRuns, type StoredRun } from '../probes/run-store.js';
import { DEMO_SHOP_PORT, serveShop } from './run-demo.js';
import { Shop } from './shop.js';
import { startStoryDaemon, until, type StoryDaemon } from './story-daemon.js';
import { TEST_CARDS } from './shop-service.js';

export interface NightStoryOptions {
  out?: (text: string) => void;
  seed?: number;
}

const PROBES_DIR = fileURLToPath(new URL('../../probes', import.meta.url));
const MIN = 60_000;
export const NIGHT_CHECKOUTS_PER_HOUR = 20;
const QUIET_MIN = 60;
const BROKEN_MIN = 10;
const ROLLBACK_MIN = 10;
const REAL_RULE = 'checkout-payment-success-drop';
const BROKEN_JOURNEY = 'checkout-stripe';
const DEPLOY = { service: 'payments-service', version: '2.4.1' };
const ROLLBACK_VERSION = '2.4.0';
/** When in each simulated minute the canary users run: after their slot's jitter (at most 6 s for `every: 1m`). */
const RUNS_AT_MS = 10_000;

export type NightVerdict =
  | { status: 'waiting'; for: string }
  | { status: 'complete'; summary: string }
  | { status: 'failed'; problems: string[] };

export interface NightPlan {
  journey: string;
  step: string;
  /** The page must come by this many runs after the fault (K of N: K). */
  withinRuns: number;
  /** After the rollback, the page must resolve by this many runs (N: the failures must leave the window). */
  resolveWithinRuns: number;
  realRule: string;
  /** The deploy the page must name first. */
  deploy: { service: string; version: string };
}

/**
 * What the night story must show, from what was observed: the canary user of the broken provider fails at the
 * payment step after the fault (and not before it), its probe alert pages within `withinRuns` runs naming the
 * journey, the step, the answer and the deploy, the other journeys keep passing, the real-traffic rule reports too
 * little data instead of firing, and after the rollback the page resolves. Pure; the story feeds it.
 */
export class NightCheck {
  private faultAt: number | undefined;
  private rollbackAt: number | undefined;
  /** Finish times of the broken journey's runs after the fault. */
  private readonly runsAfterFault: number[] = [];
  private firstFailure: { run: number; result: StoredRun } | undefined;
  private realStatuses = new Set<string>();
  /** Runs of the broken journey after the fault when its probe alert was first seen firing. */
  private fired: number | undefined;
  private paged: { afterRuns: number; reason: string } | undefined;
  /** Runs after the rollback when the probe alert was first seen no longer firing. */
  private resolvedAfter: number | undefined;
  private resolvePaged = false;
  private readonly problems: string[] = [];

  constructor(private readonly plan: NightPlan) {}

  fault(at: number): void {
    this.faultAt = at;
  }

  rollback(at: number): void {
    this.rollbackAt = at;
  }

  /** One stored run of a canary user. */
  canaryRun(journey: string, r: StoredRun): void {
    const healthy = this.faultAt === undefined || r.at < this.faultAt || journey !== this.plan.journey;
    if (healthy) {
      if (!r.ok) {
        const when = journey === this.plan.journey ? 'before the fault' : `though only ${this.plan.journey} was broken`;
        this.problems.push(`${journey} failed ${when}: ${r.message ?? r.reason ?? '?'}`);
      }
      return;
    }
    this.runsAfterFault.push(r.at);
    if (this.rollbackAt !== undefined && r.at >= this.rollbackAt) {
      if (!r.ok) this.problems.push(`${journey} still failed after the rollback: ${r.message ?? '?'}`);
      return;
    }
    if (r.ok || this.firstFailure) return;
    if (r.step !== this.plan.step) this.problems.push(`${journey} failed at ${r.step}, not at ${this.plan.step}`);
    this.firstFailure = { run: this.runsAfterFault.length, result: r };
  }

  /** The real-traffic rule's alert statuses after a minute's evaluation. */
  realRule(statuses: readonly string[]): void {
    for (const s of statuses) this.realStatuses.add(s);
    if (this.faultAt !== undefined && statuses.includes('firing')) {
      this.problems.push(`${this.plan.realRule} fired on thin traffic (the story expects it cannot judge)`);
    }
  }

  /** The broken journey's probe alert statuses (one per location) after a minute's evaluation. */
  probeAlert(statuses: readonly string[]): void {
    if (this.fired !== undefined) {
      const since = this.runsAfterFault.length - this.runsBeforeRollback();
      if (this.rollbackAt !== undefined && this.resolvedAfter === undefined && !statuses.includes('firing'))
        this.resolvedAfter = since;
      return;
    }
    if (!statuses.includes('firing')) return;
    if (this.faultAt === undefined) this.problems.push(`${probeRuleName(this.plan.journey)} fired before the fault`);
    this.fired = this.runsBeforeRollback();
  }

  /** A delivered job; the pages of the canary users' probe alerts count (each receiver gets one: counted once). */
  page(job: DeliveryJob): void {
    const a = job.alert;
    if (!a.rule.startsWith(probeRuleName(''))) return;
    if (a.rule !== probeRuleName(this.plan.journey)) {
      if (job.event === 'firing') this.problems.push(`${a.rule} paged, but only ${this.plan.journey} was broken`);
      return;
    }
    if (job.event === 'firing' && !this.paged) {
      if (this.faultAt === undefined || a.at < this.faultAt) {
        this.problems.push(`${a.rule} paged before the fault (a false alarm)`);
        return;
      }
      const reason = a.evidence?.reason ?? '';
      const status = this.firstFailure?.result.status;
      const want: [boolean, string][] = [
        [reason.includes(this.plan.journey), `the journey ${this.plan.journey}`],
        [reason.includes(`step ${this.plan.step}`), `the step ${this.plan.step}`],
        [status !== undefined && reason.includes(String(status)), `the answer (${status ?? 'no status'})`],
      ];
      for (const [ok, what] of want) if (!ok) this.problems.push(`the page did not name ${what}: "${reason}"`);
      const first = a.context?.deploys?.[0];
      const d = this.plan.deploy;
      if (!first || first.service !== d.service || first.version !== d.version) {
        this.problems.push(
          `the page named ${first ? `${first.service} ${first.version}` : 'no deploy'}, not ${d.service} ${d.version}`,
        );
      }
      this.paged = { afterRuns: this.runsBeforeRollback(), reason };
    } else if (job.event === 'resolved' && this.paged) {
      if (this.rollbackAt === undefined) this.problems.push(`${a.rule} resolved before the rollback`);
      this.resolvePaged = true;
    }
  }

  /** True once the page for the broken journey came (the story then rolls back). */
  pageSeen(): boolean {
    return this.paged !== undefined;
  }

  private runsBeforeRollback(): number {
    return this.runsAfterFault.filter((at) => this.rollbackAt === undefined || at < this.rollbackAt).length;
  }

  verdict(): NightVerdict {
    if (this.problems.length > 0) return { status: 'failed', problems: [...this.problems] };
    const p = this.plan;
    if (this.faultAt === undefined) return { status: 'waiting', for: 'the fault' };
    const runs = this.runsBeforeRollback();
    const late = (what: string, n: number) => ({ status: 'failed' as const, problems: [`${what} within ${n} runs`] });
    if (!this.firstFailure) {
      if (runs >= p.withinRuns) return late(`${p.journey} did not fail`, p.withinRuns);
      return { status: 'waiting', for: `a failing run of ${p.journey}` };
    }
    const rule = probeRuleName(p.journey);
    if (this.fired === undefined) {
      if (runs >= p.withinRuns) return late(`${rule} did not fire`, p.withinRuns);
      return { status: 'waiting', for: `${rule} to fire` };
    }
    if (this.fired > p.withinRuns) return late(`${rule} did not fire`, p.withinRuns);
    // The page goes out on the tick after the alert fired: its incident waits group_wait for related alerts.
    if (!this.paged) {
      if (runs > this.fired + 1)
        return {
          status: 'failed',
          problems: [`no page for ${p.journey} by run ${this.fired + 1} (the tick after its alert fired)`],
        };
      return { status: 'waiting', for: `the page for ${p.journey}` };
    }
    if (!this.realStatuses.has('insufficient'))
      return { status: 'waiting', for: `${p.realRule} to report insufficient data` };
    if (this.rollbackAt === undefined) return { status: 'waiting', for: 'the rollback' };
    const since = this.runsAfterFault.filter((at) => at >= this.rollbackAt!).length;
    if (this.resolvedAfter === undefined || this.resolvedAfter > p.resolveWithinRuns) {
      if (since >= p.resolveWithinRuns) return late(`${rule} did not resolve after the rollback`, p.resolveWithinRuns);
      return { status: 'waiting', for: `${rule} to resolve` };
    }
    // The resolve goes out once the receivers' group_interval has passed since the first page (5 min by default).
    if (!this.resolvePaged) return { status: 'waiting', for: `the resolve page for ${p.journey}` };
    const f = this.firstFailure.result;
    return {
      status: 'complete',
      summary:
        `${p.journey} failed at ${f.step} on run ${this.firstFailure.run} after the deploy (${f.message}); ` +
        `its probe alert fired after run ${this.fired} (K=2 of 3) and paged on the next tick, naming the journey, ` +
        `the step, ` +
        `the answer and ${p.deploy.service} ${p.deploy.version}; ${p.realRule} reported insufficient data and did ` +
        `not fire; after the rollback the alert resolved on passing run ${this.resolvedAfter} and the page ` +
        `sent its resolve`,
    };
  }
}

export async function runNightStory(opts: NightStoryOptions = {}): Promise<number> {
  const out = opts.out ?? ((t: string) => process.stdout.write(t));
  let story: StoryDaemon | undefined;
  let shop: Shop | undefined;
  let copyDir: string | undefined;
  const stopAll = async () => {
    await story?.stop();
    await shop?.close().catch(() => undefined);
    if (copyDir) rmSync(copyDir, { recursive: true, force: true });
  };
  const check = new NightCheck({
    journey: BROKEN_JOURNEY,
    step: 'pay',
    withinRuns: 2,
    resolveWithinRuns: 3,
    realRule: REAL_RULE,
    deploy: DEPLOY,
  });
  try {
    out('funnelwatch demo, night story: starting a throw-away redis-server, the demo shop and the daemon …\n');
    // The story's clock: simulated minutes, ending about now; the shop, the daemon and its canary users share it.
    const t0 = Math.floor((Date.now() - (QUIET_MIN + BROKEN_MIN + ROLLBACK_MIN + 2) * MIN) / MIN) * MIN;
    const clock = new ManualClock(t0);
    shop = new Shop({ seed: opts.seed ?? 3, checkoutsPerMinute: NIGHT_CHECKOUTS_PER_HOUR / 60, startTime: t0 });
    const shopUrl = await serveShop(shop, clock);
    // The journeys' `local` base URL is the demo shop's port; when another process holds it, a copy of probes/
    // pointed at the port this shop got.
    let probesDir = PROBES_DIR;
    if (!shopUrl.endsWith(`:${DEMO_SHOP_PORT}`)) {
      copyDir = mkdtempSync(join(tmpdir(), 'fw-night-probes-'));
      for (const f of readdirSync(PROBES_DIR).filter((n) => n.endsWith('.yaml'))) {
        const text = readFileSync(join(PROBES_DIR, f), 'utf8');
        writeFileSync(join(copyDir, f), text.replaceAll(`http://127.0.0.1:${DEMO_SHOP_PORT}`, shopUrl));
      }
      probesDir = copyDir;
    }
    // The canary users' secrets, from the environment as in production: here the demo shop's test cards.
    Object.assign(process.env, {
      SHOP_PROBE_PASSWORD: process.env.SHOP_PROBE_PASSWORD ?? 'night-canary-pw',
      SHOP_PROBE_STRIPE_CARD: TEST_CARDS.stripe,
      SHOP_PROBE_ADYEN_CARD: TEST_CARDS.adyen,
      SHOP_PROBE_PAYPAL_BUYER: TEST_CARDS.paypal,
    });
    story = await startStoryDaemon({
      out,
      label: 'page',
      onJob: (job) => check.page(job),
      clock,
      env: {
        FW_PROBES_DIR: probesDir,
        FW_PROBES_ENVIRONMENT: 'local',
        // The story moves the clock an hour and more in seconds: a lease that outlives it (one replica here).
        FW_LEASE_TTL_MS: String(6 * 60 * MIN),
      },
    });
    const d = story.daemon;
    const runner = d.probeRunner;
    const journeys = d.journeys?.current?.journeys ?? [];
    if (!runner || journeys.length === 0) throw new Error(`the daemon loaded no canary users from ${probesDir}`);
    await until(() => d.lease.isLeader(), 15_000, 'the daemon did not take the evaluation lease');
    const runs = new RedisProbeRuns(d.redis, story.config.FW_REDIS_PREFIX);
    const s = shop;
    const stamp = () => new Date(clock.now()).toISOString().slice(11, 16);
    const minute = async (show: boolean) => {
      const from = clock.now();
      // The daemon's runner starts the journeys due on the story's clock (each minute's slot plus its jitter, under
      // a tenth of the interval); the story waits for their runs, then ends the minute.
      clock.advance(RUNS_AT_MS);
      runner.tick();
      await runner.idle();
      clock.advance(MIN - RUNS_AT_MS);
      const events = s.tick(clock.now());
      if (events.length > 0) {
        const res = await fetch(`${d.httpUrl}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(events),
        });
        if (!res.ok) throw new Error(`events refused: ${res.status} ${await res.text()}`);
      }
      const latest: { journey: string; run: StoredRun }[] = [];
      for (const j of journeys) {
        for (const location of await runs.locations(j.name)) {
          const [run] = await runs.latest(j.name, location, 1);
          if (run && run.at > from) latest.push({ journey: j.name, run });
        }
      }
      for (const x of latest) check.canaryRun(x.journey, x.run);
      await d.ticker.runOnce();
      await until(async () => (await d.outbox.backlog()).queued === 0, 10_000, 'the pages were not delivered');
      const statuses = await ruleStatuses(d.httpUrl, REAL_RULE);
      check.realRule(statuses);
      const probe = await ruleStatuses(d.httpUrl, probeRuleName(BROKEN_JOURNEY));
      check.probeAlert(probe);
      if (show) {
        const failed = latest.filter((x) => !x.run.ok);
        const real = events.filter((e) => e.type === 'checkout_started' && !e.attrs[SYNTHETIC_ATTR]).length;
        out(
          `  ${stamp()}  real checkouts this minute: ${real}` +
            `   canary users: ${latest.length - failed.length}/${latest.length} passed` +
            `${failed.map((x) => `; ${x.journey} FAILED at ${x.run.step}: ${x.run.message}`).join('')}` +
            `   ${REAL_RULE}: ${[...new Set(statuses)].join(', ') || 'no alert state yet'}` +
            `   ${probeRuleName(BROKEN_JOURNEY)}: ${probe.join(', ') || 'no alert state yet'}\n`,
        );
      }
    };
    const deploy = async (version: string, author: string) => {
      const res = await fetch(`${d.httpUrl}/v1/deploys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          service: DEPLOY.service,
          version,
          environment: 'production',
          ts: new Date(clock.now()).toISOString(),
          author,
        }),
      });
      if (!res.ok) throw new Error(`deploy marker refused: ${res.status} ${await res.text()}`);
    };

    out(
      `the shop serves HTTP at ${shopUrl}; ${NIGHT_CHECKOUTS_PER_HOUR} real checkouts an hour; the daemon runs ` +
        `${journeys.length} canary users from ${probesDir === PROBES_DIR ? 'probes/' : 'a copy of probes/'} ` +
        `(${journeys.map((j) => `${j.name} every ${formatDuration(j.everyMs)}`).join(', ')}), ` +
        `each paging when 2 of its last 3 runs failed\n\n` +
        `1. ${QUIET_MIN} minutes of a quiet night …`,
    );
    for (let m = 0; m < QUIET_MIN; m++) await minute(false);
    out(' done\n\n');

    await deploy(DEPLOY.version, 'sam');
    s.setProviderFault('stripe', { rate: 1, mode: 'error' }, clock.now());
    check.fault(clock.now());
    out(
      `2. ${stamp()} ${DEPLOY.service} ${DEPLOY.version} deployed (marker posted); ` +
        `every stripe payment now answers 502\n\n`,
    );
    let verdict = check.verdict();
    for (let m = 0; m < BROKEN_MIN && verdict.status === 'waiting' && !check.pageSeen(); m++) {
      await minute(true);
      verdict = check.verdict();
    }
    if (verdict.status === 'waiting' && check.pageSeen()) {
      await deploy(ROLLBACK_VERSION, 'sam');
      s.setProviderFault('stripe', null, clock.now());
      check.rollback(clock.now());
      out(`3. ${stamp()} ${DEPLOY.service} rolled back to ${ROLLBACK_VERSION} (marker posted); stripe pays again\n\n`);
      verdict = check.verdict();
      for (let m = 0; m < ROLLBACK_MIN && verdict.status === 'waiting'; m++) {
        await minute(true);
        verdict = check.verdict();
      }
    }
    await stopAll();
    if (verdict.status === 'complete') {
      out(`\nthe night story held: ${verdict.summary}.\n`);
      return 0;
    }
    out(
      `\nthe night story did not hold: ${
        verdict.status === 'failed' ? verdict.problems.join('; ') : `still waiting for ${verdict.for}`
      }\n`,
    );
    return 1;
  } catch (err) {
    out(`demo failed: ${errorMessage(err)}\n`);
    await stopAll();
    return 1;
  }
}

/** The statuses of a rule's alerts (funnel-wide and per segment, or per location), from the daemon's API. */
async function ruleStatuses(daemonUrl: string, rule: string): Promise<string[]> {
  const res = await fetch(`${daemonUrl}/v1/alerts?status=all&rule=${encodeURIComponent(rule)}`);
  if (!res.ok) throw new Error(`GET /v1/alerts: ${res.status}`);
  return ((await res.json()) as { alerts: { status: string }[] }).alerts.map((a) => a.status);
}
