/**
 * `funnelwatch demo`: everything on one machine, nothing to set up. Starts its own redis-server and a
 * Kafka-protocol broker (kcat's librdkafka mock cluster) like the tests do, runs the daemon in-process against
 * them with the example rules, and a simulated shop that produces checkout and signup events to Kafka in real
 * time. Every few seconds it prints the live per-step counts per funnel, read back from the windows in Redis.
 * Ctrl-C (or --duration) stops everything and leaves no process behind.
 *
 * The story it tells: 100 minutes of history are played in first (baselines need history), with an unrelated
 * deploy of checkout-web an hour ago. Then, live: payments-service v2.4.0 is deployed (a deploy marker posted to
 * the daemon's API, as a CI job would), stripe payments start failing, the alert fires naming stripe and that
 * deploy; a minute later a rollback marker is posted, stripe recovers, and the alert resolves. The demo checks that
 * story as it goes (story-check.ts) and exits 1 saying what differed when the page named another deploy or
 * segment, or nothing resolved.
 *
 * The shop is seeded (`--seed`, default 42) and runs on the demo's clock, `--speed` times the wall clock (default 2:
 * the twelve minutes from deploy to resolve in six). Away from speed 1 the demo drives the daemon's minute tick on
 * that clock itself (the daemon's cron follows the wall clock), renewing the lease before each tick.
 *
 * Stopping: Ctrl-C or SIGTERM stops the daemon, the producer, the broker (kcat) and redis-server within
 * FW_SHUTDOWN_TIMEOUT_MS; past it, or at a second signal, whatever still runs is killed and the demo exits.
 */
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { startRedisServer, type RedisServerHandle } from '../devenv/redis-server.js';
import { startMockKafka, type MockKafkaHandle } from '../devenv/mock-kafka.js';
import { loadConfig } from '../config/config.js';
import { createLogger } from '../obs/logger.js';
import { Daemon } from '../app/daemon.js';
import { consoleLines } from '../notify/console-receiver.js';
import type { Receiver } from '../notify/receiver.js';
import { Shop } from './shop.js';
import { errorMessage, FwError } from '../core/errors.js';
import { renderCounts } from './live-view.js';
import { killAllManaged } from '../devenv/child.js';
import { DEMO_TOOLS, missingTools, missingToolsMessage } from '../devenv/tools.js';
import { takeEarlySignal } from '../app/early-signals.js';
import type { Clock } from '../core/clock.js';
import type { FwEvent } from '../events/event.js';
import type { DeliveryJob } from '../notify/receiver.js';
import { StoryCheck, type StoryVerdict } from './story-check.js';

export interface DemoOptions {
  checkoutsPerMinute: number;
  /** Stop after this many seconds of wall time; the story must be complete by then (exit 1 otherwise). */
  durationSec?: number | undefined;
  /** The shop's seed: the same seed, the same shop. Default 42. */
  seed?: number | undefined;
  /** The demo's clock runs this many times the wall clock. Default 2. */
  speed?: number | undefined;
  /** Stop as soon as the story is complete (exit 0) instead of running on (CI, the tests). */
  stopWhenChecked?: boolean | undefined;
  /** Where the demo writes what it shows (stdout by default). */
  out?: (text: string) => void;
}

const RULES_DIR = fileURLToPath(new URL('../../rules', import.meta.url));

export const DEFAULT_DEMO_SEED = 42;
export const DEFAULT_DEMO_SPEED = 2;

export async function runDemo(opts: DemoOptions): Promise<number> {
  const out = opts.out ?? ((t: string) => process.stdout.write(t));
  const seed = opts.seed ?? DEFAULT_DEMO_SEED;
  const speed = opts.speed ?? DEFAULT_DEMO_SPEED;
  const missing = missingTools(DEMO_TOOLS);
  if (missing.length > 0) {
    out(`funnelwatch demo: ${missingToolsMessage(missing)}.\n`);
    return 1;
  }
  const clock = scaledClock(speed);
  let redis: RedisServerHandle | undefined;
  let kafka: MockKafkaHandle | undefined;
  let daemon: Daemon | undefined;
  let producer: Producer | undefined;
  let liveShop: Shop | undefined;
  let timer: NodeJS.Timeout | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  // Listen for Ctrl-C from the first moment: startup takes seconds, and a signal then must still stop the
  // redis-server and broker we started instead of leaving them behind. A second signal, or a stop that takes longer
  // than FW_SHUTDOWN_TIMEOUT_MS, kills what is left and exits.
  const shutdownMs = loadConfig({
    FW_SHUTDOWN_TIMEOUT_MS: process.env.FW_SHUTDOWN_TIMEOUT_MS ?? '10000',
  }).FW_SHUTDOWN_TIMEOUT_MS;
  let interrupted: NodeJS.Signals | null = null;
  let wake = () => {};
  const hardExit = (why: string) => {
    out(`\n${why}: killing what is left (redis-server, kcat) and exiting\n`);
    killAllManaged();
    process.exit(interrupted === 'SIGINT' ? 130 : 143);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return hardExit(`${signal} again`);
    interrupted = signal;
    setTimeout(
      () => hardExit(`stopping took longer than ${shutdownMs} ms (FW_SHUTDOWN_TIMEOUT_MS)`),
      shutdownMs,
    ).unref();
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const early = takeEarlySignal();
  if (early) onSignal(early);
  const stopAll = () =>
    (stopping ??= (async () => {
      if (timer) clearInterval(timer);
      if (tickTimer) clearInterval(tickTimer);
      out('\nstopping: daemon, Kafka-protocol broker, Redis …\n');
      await liveShop?.close().catch(() => undefined);
      await producer?.disconnect().catch(() => undefined);
      await daemon?.stop().catch(() => undefined);
      await Promise.all([kafka?.stop(), redis?.stop()]);
      out('demo stopped; nothing left running.\n');
    })());
  const interruptedCode = () => (interrupted === 'SIGINT' ? 130 : 143);

  try {
    out('funnelwatch demo: starting a throw-away redis-server and a 3-broker Kafka-protocol cluster …\n');
    [redis, kafka] = await Promise.all([startRedisServer(), startMockKafka(3)]);
    if (interrupted) return (await stopAll(), interruptedCode());
    const config = loadConfig({
      FW_REDIS_URL: redis.url,
      FW_KAFKA_BROKERS: kafka.brokers.join(','),
      FW_KAFKA_TOPICS: 'funnel-events',
      FW_KAFKA_FROM_BEGINNING: 'true',
      FW_RULES_DIR: RULES_DIR,
      FW_HTTP_PORT: process.env.FW_HTTP_PORT ?? '0',
      FW_HTTP_HOST: '127.0.0.1',
      // The history played in at start is up to 100 minutes behind the clock until it has caught up; that is the
      // demo's set-up, not a stalled feed.
      FW_STALE_AFTER_MS: String((HISTORY_MIN + 20) * 60_000),
      FW_SHUTDOWN_TIMEOUT_MS: String(shutdownMs),
      // Away from speed 1 the demo ticks on its own clock (below); the cron then never fires (1 January, 00:00).
      ...(speed !== 1 ? { FW_TICK_SCHEDULE: '0 0 0 1 1 *' } : {}),
      // The lease's validity is measured on the demo's clock, its renewal timer on the wall clock.
      FW_LEASE_TTL_MS: String(Math.round(30_000 * Math.max(1, speed))),
    });
    const logger = createLogger({ level: process.env.FW_LOG_LEVEL ?? 'error', pretty: 'auto' });
    const story = new StoryCheck({
      rule: STORY_RULE,
      segment: STORY_SEGMENT,
      deploy: { service: 'payments-service', version: '2.4.0' },
      pageWithinMs: 8 * 60_000,
      resolveWithinMs: 20 * 60_000,
    });
    // The demo has no Slack or PagerDuty: every receiver the rules name prints on the console here, through the
    // real outbox. A page goes to several receivers; only the alert's first one prints, so each page shows once
    // (its line names them all). Every page is also shown to the story check.
    const receiverFactory = (def: { name: string }): Receiver => ({
      name: def.name,
      kind: 'console',
      deliver: async (job: DeliveryJob) => {
        story.page(job);
        if (
          job.event === 'delivery_failed' ||
          job.alert.notify.find((r) => r !== 'console') === def.name ||
          job.alert.notify.length === 0
        ) {
          out(`\n${consoleLines(job).join('\n')}\n\n`);
        }
        return { ok: true };
      },
    });
    daemon = new Daemon({ config, logger, receiverFactory, clock });
    await daemon.start();
    if (interrupted) return (await stopAll(), interruptedCode());
    out(`daemon up: ${daemon.httpUrl}/readyz  ${daemon.httpUrl}/metrics\n`);
    // The demo's daemon listens on loopback without a token, so its dashboard needs no login.
    out(`dashboard: ${daemon.httpUrl}/ (the incident, its chart and the deploy marker show up there)\n`);

    producer = new Kafka({ clientId: 'demo-shop', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: true,
    });
    await producer.connect();
    const p = producer;
    const d = daemon;
    const send = async (events: readonly FwEvent[]) => {
      for (let i = 0; i < events.length; i += 5_000) {
        await p.send({
          topic: 'funnel-events',
          messages: events.slice(i, i + 5_000).map((e) => ({ key: e.entity, value: JSON.stringify(e) })),
        });
      }
    };
    const deploy = async (marker: Record<string, unknown>) => {
      const r = await fetch(`${d.httpUrl}/v1/deploys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(marker),
      });
      if (!r.ok) throw new Error(`deploy marker refused: ${r.status} ${await r.text()}`);
    };
    let started = clock.now();
    // History first: the rules' baselines need it. Played in minute by minute, waiting for the daemon to keep up
    // (the mock broker keeps only the newest few MB per partition).
    const shop = new Shop({
      seed,
      checkoutsPerMinute: opts.checkoutsPerMinute,
      startTime: started - HISTORY_MIN * 60_000,
    });
    liveShop = shop;
    out(
      `simulated shop (seed ${seed}): ${opts.checkoutsPerMinute} checkouts/min across ios/android/web, ` +
        `eu/us/apac, adyen/stripe/paypal\n`,
    );
    if (speed !== 1) out(`the demo's clock runs ${speed}× the wall clock (--speed 1 for real time)\n`);
    out(`playing in ${HISTORY_MIN} minutes of history …`);
    await deploy({
      service: 'checkout-web',
      version: '1.8.2',
      environment: 'production',
      ts: new Date(started - 62 * 60_000).toISOString(),
      author: 'lee',
      commit: '4be1f0c',
    });
    const checkout = d.rules.current!.funnels.find((f) => f.name === 'checkout')!;
    let produced = 0;
    const consumed = async () => (await d.metrics.eventsConsumed.get()).values.reduce((a, v) => a + v.value, 0);
    for (let m = HISTORY_MIN - 1; m >= 0 && !interrupted; m--) {
      const events = shop.tick(started - m * 60_000);
      await send(events);
      produced += events.length;
      // Never more than a few thousand events ahead of the consumer: the mock broker drops what is older than
      // its newest few MB per partition, and history lost there would be missing from the baselines.
      await waitFor(
        async () => produced - (await consumed()) < 16_000,
        60_000,
        () => interrupted !== null,
      );
      if (m % 10 === 0) out(' .');
    }
    await waitFor(
      async () => Math.min(...(await d.windows.getWatermarks(checkout)).values()) >= started - 90_000,
      60_000,
      () => interrupted !== null,
    );
    if (interrupted) return (await stopAll(), interruptedCode());
    out(' done\n');
    // Live, the customers are HTTP clients of the shop, up to HTTP_STARTS_PER_SEC of them a second (half of them
    // at the default rate and speed); the rest call the same handlers in-process, which keeps high --rate x --speed
    // feasible on a small machine. Canary users reach the same server.
    const shopUrl = await serveShop(shop, clock);
    // The customers act once a second (wall clock): an HTTP request is stamped by the shop when it arrives, so at
    // high --speed its events would land up to `speed` seconds of the demo's clock late and skew the minute ratios
    // the rules judge. Above MAX_HTTP_SPEED every customer calls the handlers in-process, at its exact time.
    const startsPerSec = (opts.checkoutsPerMinute * speed) / 60;
    const httpShare = speed <= MAX_HTTP_SPEED ? Math.min(1, HTTP_STARTS_PER_SEC / startsPerSec) : 0;
    if (httpShare > 0) shop.useHttp(httpShare);
    out(
      `the shop serves HTTP at ${shopUrl}` +
        `${shopUrl.endsWith(`:${DEMO_SHOP_PORT}`) ? ' (canary users: funnelwatch probe --environment local)' : ''}; ` +
        (httpShare > 0
          ? `${Math.round(httpShare * 100)}% of the live customers use it, the rest call its handlers in-process\n\n`
          : `at --speed above ${MAX_HTTP_SPEED} the customers call its handlers in-process\n\n`),
    );
    started = clock.now();
    const wallStarted = Date.now();
    const script = new Story(started, story);
    if (speed !== 1) tickTimer = driveTicks(d, clock, out);

    let tick = 0;
    let sending = false;
    let verdict = { status: 'waiting', for: 'the deploy' } as StoryVerdict;
    let reported = false;
    await new Promise<void>((resolve) => {
      wake = resolve;
      if (interrupted) resolve();
      timer = setInterval(async () => {
        if (sending) return; // never overlap: a slow send skips a tick
        sending = true;
        try {
          const now = clock.now();
          const events = shop.tick(now);
          if (events.length) await send(events);
          await script.step(now, { shop, deploy, out });
          if (++tick % 5 === 0) out(await renderCounts(d, now));
          verdict = story.verdict(now);
          if (verdict.status === 'failed') return resolve();
          if (verdict.status === 'complete' && !reported) {
            reported = true;
            out(
              `\n${stampOf(now)} the story is complete and checked: ${verdict.summary}.` +
                `${opts.durationSec === undefined && !opts.stopWhenChecked ? ' Ctrl-C stops the demo.' : ''}\n\n`,
            );
            if (opts.stopWhenChecked) return resolve();
          }
          if (opts.durationSec !== undefined && Date.now() - wallStarted >= opts.durationSec * 1000) resolve();
        } catch (err) {
          out(`demo: ${errorMessage(err)}\n`);
        } finally {
          sending = false;
        }
      }, 1000);
    });
    await stopAll();
    if (verdict.status === 'failed') {
      out(`the story did not hold: ${verdict.problems.join('; ')}\n`);
      return 1;
    }
    if (verdict.status === 'waiting') {
      if (interrupted) return interruptedCode();
      out(`the story was not complete after ${opts.durationSec} s: still waiting for ${verdict.for}\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    out(
      err instanceof FwError && err.code === 'DEVENV_MISSING_TOOL'
        ? `funnelwatch demo: ${err.message}.\n`
        : `demo failed: ${errorMessage(err)}\n`,
    );
    await stopAll();
    return interrupted ? interruptedCode() : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The demo's clock: starts at the wall clock's time and runs `speed` times as fast. */
export function scaledClock(speed: number, wall: () => number = Date.now): Clock {
  const origin = wall();
  return { now: () => origin + (wall() - origin) * speed };
}

/**
 * The daemon's minute tick on the demo's clock (5 s past each of its minutes, as FW_TICK_SCHEDULE's default does on
 * the wall clock), the lease renewed first: its validity is measured on that clock.
 */
function driveTicks(d: Daemon, clock: Clock, out: (t: string) => void): NodeJS.Timeout {
  let next = Math.floor(clock.now() / 60_000) * 60_000 + 65_000;
  let busy = false;
  return setInterval(() => {
    if (busy || clock.now() < next) return;
    busy = true;
    next = Math.floor(clock.now() / 60_000) * 60_000 + 65_000;
    d.lease
      .tryAcquire()
      .then(() => d.ticker.runOnce())
      .catch((err: unknown) => out(`demo: tick: ${errorMessage(err)}\n`))
      .finally(() => {
        busy = false;
      });
  }, 100);
}

function stampOf(now: number): string {
  return new Date(now).toISOString().slice(11, 19);
}

const HISTORY_MIN = 100;
/** Live customers started per second (wall clock) that go over HTTP; above it, the rest go in-process. */
const HTTP_STARTS_PER_SEC = 20;
/** Above this --speed the customers' HTTP requests would be stamped too late (see runDemo). */
const MAX_HTTP_SPEED = 4;
/** The shop's port when it is free (the journeys' `local` base URL); another free port when it is not. */
export const DEMO_SHOP_PORT = 8090;

/** Serves the shop on DEMO_SHOP_PORT, or any free port when that one is taken. */
export async function serveShop(shop: Shop, clock: Clock): Promise<string> {
  try {
    return await shop.serve(clock, DEMO_SHOP_PORT);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    return shop.serve(clock, 0);
  }
}
const STORY_RULE = 'checkout-payment-success-drop';
const STORY_SEGMENT = { dimension: 'payment_provider', value: 'stripe' };

async function waitFor(probe: () => Promise<boolean>, timeoutMs: number, abort: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!abort() && !(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('the daemon did not keep up with the history being played in');
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface StoryDeps {
  shop: Shop;
  deploy(marker: Record<string, unknown>): Promise<void>;
  out(text: string): void;
}

/**
 * The demo's script, by time since going live (the demo's clock) and by what the receivers got: deploy, failure,
 * (page), rollback, recovery, (resolve). The page and the resolve are the daemon's own doing; the script only waits
 * for the page, and the story check judges both.
 */
class Story {
  private phase: 'steady' | 'deployed' | 'failing' | 'fired' | 'rolled_back' = 'steady';
  private firedAt = 0;

  constructor(
    private readonly live: number,
    private readonly check: StoryCheck,
  ) {}

  async step(now: number, d: StoryDeps): Promise<void> {
    const t = (now - this.live) / 1000;
    const stamp = stampOf(now);
    switch (this.phase) {
      case 'steady':
        if (t < 3) return;
        await d.deploy({
          service: 'payments-service',
          version: '2.4.0',
          environment: 'production',
          ts: new Date(now).toISOString(),
          author: 'sam',
          commit: '9c41d2e',
          url: 'https://ci.example.com/payments-service/builds/812',
        });
        d.out(`\n${stamp} deploy marker: payments-service 2.4.0 (POST /v1/deploys, as a CI job would)\n\n`);
        this.phase = 'deployed';
        return;
      case 'deployed':
        if (t < 8) return;
        d.shop.setProviderFailure('stripe', 0.85, now);
        this.check.fault(now);
        d.out(`\n${stamp} injected fault: most stripe payments now fail; the servers still look healthy\n\n`);
        this.phase = 'failing';
        return;
      case 'failing':
        if (!this.check.segmentPaged()) return;
        this.firedAt = now;
        this.phase = 'fired';
        return;
      case 'fired':
        // The incident's page (sent after its group_wait) is on screen, and a minute has passed.
        if (now - this.firedAt < 60_000) return;
        await d.deploy({
          service: 'payments-service',
          version: '2.3.9',
          environment: 'production',
          ts: new Date(now).toISOString(),
          author: 'sam',
          attrs: { rollback: 'true' },
        });
        d.shop.setProviderFailure('stripe', 0, now);
        this.check.rollback(now);
        d.out(
          `\n${stamp} rollback: payments-service 2.3.9 deployed (marker posted); stripe payments succeed again\n\n`,
        );
        this.phase = 'rolled_back';
        return;
      case 'rolled_back':
        return;
    }
  }
}
