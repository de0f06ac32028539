/**
 * `funnelwatch demo --story canary`: the canary gate, end to end, in about a minute. A throw-away redis-server, the
 * daemon in-process with the example rules (the `checkout-canary` gate), and the simulated shop, played in event
 * time at full speed (events carry their own timestamps), one simulated minute after the other, the daemon's
 * minute tick run after each (so the evaluator learns the completeness curve the gate corrects young cohorts with):
 *
 *   1. 45 minutes of ordinary traffic on app version 5.2.0 (and older ones);
 *   2. app_version 5.3.0 rolled out to 10% of checkouts, with a payment button that does nothing on android: the
 *      gate is asked every minute, as Argo Rollouts would ask it, and answers inconclusive, then fail, with the
 *      evidence; the decision reaches the gate's receiver once (printed here, as the demo has no Slack);
 *   3. 5.3.0 rolled back, a healthy 5.3.1 rolled out to 10%: inconclusive, then pass.
 *
 * The minutes are simulated, the gate and everything under it are the real ones.
 */
import { errorMessage } from '../core/errors.js';
import { evidenceMarkdown, type GateEvidence } from '../gates/gate-evidence.js';
import { progressLine } from '../gates/gate-command.js';
import { Shop } from './shop.js';
import { startStoryDaemon, until, type StoryDaemon } from './story-daemon.js';

export interface CanaryStoryOptions {
  checkoutsPerMinute: number;
  out?: (text: string) => void;
}

const MIN = 60_000;
const HISTORY_MIN = 45;
const BROKEN_MAX_MIN = 30;
const HEALTHY_MAX_MIN = 75;
const GATE = 'checkout-canary';
const BASELINE = '5.2.0';
/** The canary's expected share of the two versions compared: 10% of all checkouts, where 5.2.0 has 60% of the
 *  other 90% (older versions the rest): 0.1 / (0.1 + 0.54). */
const WEIGHT = '15.6%25';

export async function runCanaryStory(opts: CanaryStoryOptions): Promise<number> {
  const out = opts.out ?? ((t: string) => process.stdout.write(t));
  let story: StoryDaemon | undefined;
  const stopAll = async () => {
    await story?.stop();
  };
  try {
    out('funnelwatch demo, canary story: starting a throw-away redis-server and the daemon …\n');
    // No Slack here: the gate's receivers (and any alert's) print on the console, through the real outbox.
    story = await startStoryDaemon({ out, label: 'notification' });
    const d = story.daemon;
    await until(() => d.lease.isLeader(), 15_000, 'the daemon did not take the evaluation lease');

    const t0 = Math.floor((Date.now() - (HISTORY_MIN + BROKEN_MAX_MIN + HEALTHY_MAX_MIN + 2) * MIN) / MIN) * MIN;
    const shop = new Shop({ seed: 11, checkoutsPerMinute: opts.checkoutsPerMinute, startTime: t0 });
    let minute = 0;
    const clock = (k = minute) => new Date(t0 + k * MIN).toISOString().slice(11, 16);
    const playMinute = async () => {
      minute++;
      const events = shop.tick(t0 + minute * MIN);
      for (let i = 0; i < events.length; i += 5_000) {
        const r = await fetch(`${d.httpUrl}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(events.slice(i, i + 5_000)),
        });
        if (!r.ok) throw new Error(`events refused: ${r.status} ${await r.text()}`);
      }
      await d.ticker.runOnce(); // compaction and evaluation, as the daemon's minute tick does
    };
    const ask = async (canary: string): Promise<GateEvidence | string> => {
      const q = `canary=${canary}&baseline=${BASELINE}&weight=${WEIGHT}`;
      const r = await fetch(`${d.httpUrl}/v1/gates/${GATE}/verdict?${q}`);
      const body = (await r.json()) as GateEvidence & { message?: string };
      return r.ok ? body : `${r.status}: ${body.message ?? ''}`;
    };

    out(
      `simulated shop: ${opts.checkoutsPerMinute} checkouts/min (ios/android/web), event time from ${clock(0)} UTC, ` +
        `played at full speed\n\n1. ${HISTORY_MIN} minutes of ordinary traffic on ${BASELINE} (and older versions) …`,
    );
    while (minute < HISTORY_MIN) await playMinute();
    out(' done (the evaluator has learned how fast checkouts complete)\n\n');

    const phase = async (canary: string, maxMinutes: number): Promise<GateEvidence | undefined> => {
      const from = minute;
      while (minute - from < maxMinutes) {
        await playMinute();
        const e = await ask(canary);
        if (typeof e === 'string') {
          out(`  ${clock()}  ${e}\n`);
          continue;
        }
        out(`  ${clock()}  ${progressLine(e)}\n`);
        if (e.verdict !== 'inconclusive') return e;
      }
      return undefined;
    };

    shop.setRollout('5.3.0', 0.1, t0 + minute * MIN, 'android');
    out(
      `2. ${clock()} app_version 5.3.0 rolled out to 10% of checkouts; on android its payment button does nothing.\n` +
        `   Asking the gate every minute, as Argo Rollouts' web metric would:\n` +
        `   GET /v1/gates/${GATE}/verdict?canary=5.3.0&baseline=${BASELINE}&weight=15.6%\n` +
        `   (weight: 10% of all checkouts is 15.6% of the two versions compared, ` +
        `${BASELINE} having 60% of the rest)\n\n`,
    );
    const failed = await phase('5.3.0', BROKEN_MAX_MIN);
    if (!failed) {
      out('\nthe gate did not decide within the story; try a higher --rate\n');
      return (await stopAll(), 1);
    }
    out(`\n${evidenceMarkdown(failed)}\n`);
    // The decision goes out through the delivery outbox; give the worker a moment to print it.
    await until(async () => (await d.outbox.backlog()).queued === 0, 10_000, 'the announcement was not delivered');

    shop.setRollout('5.3.0', 0, t0 + minute * MIN);
    shop.setRollout('5.3.1', 0.1, t0 + minute * MIN);
    out(
      `3. ${clock()} 5.3.0 rolled back (the rollout tool acted on the fail); ` +
        `5.3.1, with the button fixed, rolled out to 10%:\n\n`,
    );
    const passed = await phase('5.3.1', HEALTHY_MAX_MIN);
    if (!passed) {
      out('\nthe gate did not decide within the story; try a higher --rate\n');
      return (await stopAll(), 1);
    }
    out(`\n${passed.explanation}\n` + `Evidence: GET /v1/gates/${GATE}/evidence?canary=5.3.1&baseline=${BASELINE}\n`);
    await until(async () => (await d.outbox.backlog()).queued === 0, 10_000, 'the announcement was not delivered');
    out('\nthe canary story is complete.\n');
    await stopAll();
    return 0;
  } catch (err) {
    out(`demo failed: ${errorMessage(err)}\n`);
    await stopAll();
    return 1;
  }
}
