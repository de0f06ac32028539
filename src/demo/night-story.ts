/**
 * `funnelwatch demo --story night`: why canary users exist. At 3 a.m. a shop sees about 20 checkouts an hour; a
 * deploy breaks stripe payments, and conversion alone would take hours to prove it. A throw-away redis-server, the
 * daemon in-process with the example rules, the demo shop served over HTTP, played in simulated minutes at full
 * speed (events carry their own time), the daemon's minute tick after each minute:
 *
 *   1. an hour of thin night traffic (NIGHT_CHECKOUTS_PER_HOUR), the customers going through the shop's handlers;
 *      the canary users of probes/ (signup, a checkout per provider with its test card) run every minute against
 *      the shop over HTTP, their events ingested through POST /v1/events like any producer's;
 *   2. payments-service 2.4.1 is deployed (marker posted) and breaks stripe: every stripe payment answers 502;
 *   3. the canary user checkout-stripe fails at `pay` from its next run, with the shop's answer; the real-traffic
 *      rule (checkout-payment-success-drop) has too few payments to judge and says so: its alerts are
 *      `insufficient`, not firing.
 *
 * NightCheck judges the story from what was observed. The page from the canary users needs probe alerting (a
 * journey failing K of its last N runs, issue 24), which the daemon does not have yet: `NightCheck.page` is where its
 * pages plug in; until then the verdict says the page was not checked, and never claims one.
 */
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import { SYNTHETIC_ATTR } from '../events/event.js';
import type { DeliveryJob } from '../notify/receiver.js';
import { HttpEventSink } from '../probes/event-sink.js';
import { loadJourneyPaths } from '../probes/load.js';
import { ProbeRunner } from '../probes/runner.js';
import type { RunResult } from '../probes/run-journey.js';
import { Shop } from './shop.js';
import { startStoryDaemon, type StoryDaemon } from './story-daemon.js';
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
const REAL_RULE = 'checkout-payment-success-drop';
const BROKEN_JOURNEY = 'checkout-stripe';

export type NightVerdict =
  | { status: 'waiting'; for: string }
  | { status: 'complete'; summary: string; unchecked: string[] }
  | { status: 'failed'; problems: string[] };

/**
 * What the night story must show, from what was observed: the canary user of the broken provider fails at the
 * payment step within `withinRuns` runs of the fault (and not before it), the other journeys keep passing, and the
 * real-traffic rule reports too little data instead of firing. Pure; the story feeds it.
 */
export class NightCheck {
  private faultAt: number | undefined;
  private runsSinceFault = 0;
  private failedAt: { run: number; result: RunResult } | undefined;
  private realStatuses = new Set<string>();
  private readonly pages: DeliveryJob[] = [];
  private readonly problems: string[] = [];

  constructor(
    private readonly plan: { journey: string; step: string; withinRuns: number; realRule: string },
    /** Whether the page from probe alerting is required (false until the daemon has probe alerting). */
    private readonly requirePage = false,
  ) {}

  fault(at: number): void {
    this.faultAt = at;
  }

  canaryRun(r: RunResult): void {
    if (r.journey !== this.plan.journey) {
      if (!r.ok) this.problems.push(`${r.journey} failed though only ${this.plan.journey} was broken`);
      return;
    }
    if (this.faultAt === undefined || r.startedAt < this.faultAt) {
      if (!r.ok) this.problems.push(`${r.journey} failed before the fault: ${r.failure!.message}`);
      return;
    }
    this.runsSinceFault++;
    if (r.ok || this.failedAt) return;
    if (r.failure!.step !== this.plan.step) {
      this.problems.push(`${r.journey} failed at ${r.failure!.step}, not at ${this.plan.step}`);
    }
    this.failedAt = { run: this.runsSinceFault, result: r };
  }

  /** The real-traffic rule's alert statuses after a minute's evaluation. */
  realRule(statuses: readonly string[]): void {
    for (const s of statuses) this.realStatuses.add(s);
    if (this.faultAt !== undefined && statuses.includes('firing')) {
      this.problems.push(`${this.plan.realRule} fired on thin traffic (the story expects it cannot judge)`);
    }
  }

  /** A page from probe alerting plugs in here. */
  page(job: DeliveryJob): void {
    this.pages.push(job);
  }

  verdict(): NightVerdict {
    if (this.problems.length > 0) return { status: 'failed', problems: [...this.problems] };
    if (this.faultAt === undefined) return { status: 'waiting', for: 'the fault' };
    if (!this.failedAt) {
      if (this.runsSinceFault >= this.plan.withinRuns) {
        return {
          status: 'failed',
          problems: [`${this.plan.journey} did not fail within ${this.plan.withinRuns} runs of the fault`],
        };
      }
      return { status: 'waiting', for: `a failing run of ${this.plan.journey}` };
    }
    if (!this.realStatuses.has('insufficient')) {
      return { status: 'waiting', for: `${this.plan.realRule} to report insufficient data` };
    }
    const paged = this.pages.some((p) => p.event === 'firing');
    if (this.requirePage && !paged) return { status: 'waiting', for: `the page for ${this.plan.journey}` };
    const f = this.failedAt.result.failure!;
    return {
      status: 'complete',
      summary:
        `${this.plan.journey} failed at ${f.step} on run ${this.failedAt.run} after the fault (${f.message}); ` +
        `${this.plan.realRule} reported insufficient data and did not fire`,
      unchecked: this.requirePage
        ? []
        : [`the page for ${this.plan.journey} (probe alerting, K of N runs, is not in the daemon yet)`],
    };
  }
}

export async function runNightStory(opts: NightStoryOptions = {}): Promise<number> {
  const out = opts.out ?? ((t: string) => process.stdout.write(t));
  let story: StoryDaemon | undefined;
  let shop: Shop | undefined;
  let runner: ProbeRunner | undefined;
  const stopAll = async () => {
    await runner?.stop().catch(() => undefined);
    await shop?.close().catch(() => undefined);
    await story?.stop();
  };
  const check = new NightCheck({ journey: BROKEN_JOURNEY, step: 'pay', withinRuns: 2, realRule: REAL_RULE });
  try {
    out('funnelwatch demo, night story: starting a throw-away redis-server, the daemon and the demo shop …\n');
    story = await startStoryDaemon({ out, label: 'page', onJob: (job) => check.page(job) });
    const logger = story.logger;
    const d = story.daemon;

    // The story's clock: simulated minutes, ending about now (the daemon judges event time against its own clock).
    const t0 = Math.floor((Date.now() - (QUIET_MIN + BROKEN_MIN + 2) * MIN) / MIN) * MIN;
    const clock = new ManualClock(t0);
    shop = new Shop({ seed: opts.seed ?? 3, checkoutsPerMinute: NIGHT_CHECKOUTS_PER_HOUR / 60, startTime: t0 });
    const shopUrl = await shop.serve(clock);
    // The canary users: the journeys of probes/, pointed at this shop, their secrets from this process's environment
    // (the shop's test cards), their events into the daemon's ingest path.
    const loaded = await loadJourneyPaths([PROBES_DIR], { environment: 'local' });
    if (!loaded.ok) throw new Error(`probes/ is invalid: ${loaded.problems[0]?.message}`);
    const journeys = loaded.set.journeys.map((j) => ({ ...j, baseUrl: shopUrl }));
    runner = new ProbeRunner({
      sink: new HttpEventSink(d.httpUrl, undefined),
      logger,
      clock,
      env: {
        SHOP_PROBE_PASSWORD: 'night-canary-pw',
        SHOP_PROBE_STRIPE_CARD: TEST_CARDS.stripe,
        SHOP_PROBE_ADYEN_CARD: TEST_CARDS.adyen,
        SHOP_PROBE_PAYPAL_BUYER: TEST_CARDS.paypal,
      },
    });
    const r = runner;
    const s = shop;
    const stamp = () => new Date(clock.now()).toISOString().slice(11, 16);
    const minute = async (show: boolean) => {
      clock.advance(MIN);
      const events = s.tick(clock.now());
      if (events.length > 0) {
        const res = await fetch(`${d.httpUrl}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(events),
        });
        if (!res.ok) throw new Error(`events refused: ${res.status} ${await res.text()}`);
      }
      const runs = (await r.runAll({ journeys, version: 'night' })).map((x) => x.run);
      for (const run of runs) check.canaryRun(run);
      await d.ticker.runOnce();
      const statuses = await realRuleStatuses(d.httpUrl);
      check.realRule(statuses);
      if (show) {
        const failed = runs.filter((x) => !x.ok);
        const real = events.filter((e) => e.type === 'checkout_started' && !e.attrs[SYNTHETIC_ATTR]).length;
        out(
          `  ${stamp()}  real checkouts this minute: ${real}` +
            `   canary users: ${runs.length - failed.length}/${runs.length} passed` +
            `${failed.map((x) => `; ${x.journey} FAILED at ${x.failure!.step}: ${x.failure!.message}`).join('')}` +
            `   ${REAL_RULE}: ${[...new Set(statuses)].join(', ') || 'no alert state yet'}\n`,
        );
      }
    };

    out(
      `the shop serves HTTP at ${shopUrl}; ${NIGHT_CHECKOUTS_PER_HOUR} real checkouts an hour; ` +
        `${journeys.length} canary users (${journeys.map((j) => j.name).join(', ')}) every minute\n\n` +
        `1. ${QUIET_MIN} minutes of a quiet night …`,
    );
    for (let m = 0; m < QUIET_MIN; m++) await minute(false);
    out(' done\n\n');

    const deployAt = clock.now();
    const marker = await fetch(`${d.httpUrl}/v1/deploys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        service: 'payments-service',
        version: '2.4.1',
        environment: 'production',
        ts: new Date(deployAt).toISOString(),
        author: 'sam',
      }),
    });
    if (!marker.ok) throw new Error(`deploy marker refused: ${marker.status}`);
    s.setProviderFault('stripe', { rate: 1, mode: 'error' }, deployAt);
    check.fault(deployAt);
    out(`2. ${stamp()} payments-service 2.4.1 deployed (marker posted); every stripe payment now answers 502\n\n`);
    let verdict = check.verdict();
    for (let m = 0; m < BROKEN_MIN && verdict.status === 'waiting'; m++) {
      await minute(true);
      verdict = check.verdict();
    }
    await stopAll();
    if (verdict.status === 'complete') {
      out(`\nthe night story held: ${verdict.summary}.\n`);
      for (const u of verdict.unchecked) out(`NOT CHECKED: ${u}.\n`);
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

/** The statuses of the real-traffic rule's alerts (funnel-wide and per segment), from the daemon's API. */
async function realRuleStatuses(daemonUrl: string): Promise<string[]> {
  const res = await fetch(`${daemonUrl}/v1/alerts?status=all&rule=${REAL_RULE}`);
  if (!res.ok) throw new Error(`GET /v1/alerts: ${res.status}`);
  return ((await res.json()) as { alerts: { status: string }[] }).alerts.map((a) => a.status);
}
