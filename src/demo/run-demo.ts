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
 * deploy; a minute later a rollback marker is posted, stripe recovers, and the alert resolves.
 */
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { startRedisServer, type RedisServerHandle } from '../devenv/redis-server.js';
import { startMockKafka, type MockKafkaHandle } from '../devenv/mock-kafka.js';
import { loadConfig } from '../config/config.js';
import { createLogger } from '../obs/logger.js';
import { Daemon } from '../app/daemon.js';
import { consoleLines } from '../notify/console-receiver.js';
import type { Receiver } from '../notify/receiver.js';
import { alertKey } from '../model/alert-key.js';
import { Shop } from './shop.js';
import { errorMessage } from '../core/errors.js';
import { renderCounts } from './live-view.js';

export interface DemoOptions {
  checkoutsPerMinute: number;
  durationSec?: number | undefined;
  /** Where the demo writes what it shows (stdout by default). */
  out?: (text: string) => void;
}

const RULES_DIR = fileURLToPath(new URL('../../rules', import.meta.url));

export async function runDemo(opts: DemoOptions): Promise<number> {
  const out = opts.out ?? ((t: string) => process.stdout.write(t));
  let redis: RedisServerHandle | undefined;
  let kafka: MockKafkaHandle | undefined;
  let daemon: Daemon | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  // Listen for Ctrl-C from the first moment: startup takes seconds, and a signal then must still stop the
  // redis-server and broker we started instead of leaving them behind.
  let interrupted = false;
  let wake = () => {};
  const onSignal = () => {
    interrupted = true;
    wake();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    if (timer) clearInterval(timer);
    out('\nstopping: daemon, Kafka-protocol broker, Redis …\n');
    await daemon?.stop().catch(() => undefined);
    await Promise.all([kafka?.stop(), redis?.stop()]);
    out('demo stopped; nothing left running.\n');
  };

  try {
    out('funnelwatch demo: starting a throw-away redis-server and a 3-broker Kafka-protocol cluster …\n');
    [redis, kafka] = await Promise.all([startRedisServer(), startMockKafka(3)]);
    if (interrupted) return (await stopAll(), 130);
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
    });
    const logger = createLogger({ level: process.env.FW_LOG_LEVEL ?? 'error', pretty: 'auto' });
    // The demo has no Slack or PagerDuty: every receiver the rules name prints on the console here, through the
    // real outbox. A page goes to several receivers; only the alert's first one prints, so each page shows once
    // (its line names them all).
    // The incident notifications printed, which the story waits for.
    const printed = { triggers: 0, resolves: 0 };
    const receiverFactory = (def: { name: string }): Receiver => ({
      name: def.name,
      kind: 'console',
      deliver: async (job) => {
        if (
          job.event === 'delivery_failed' ||
          job.alert.notify.find((r) => r !== 'console') === def.name ||
          job.alert.notify.length === 0
        ) {
          out(`\n${consoleLines(job).join('\n')}\n\n`);
          if (job.event === 'firing') printed.triggers++;
          if (job.event === 'resolved') printed.resolves++;
        }
        return { ok: true };
      },
    });
    daemon = new Daemon({ config, logger, receiverFactory });
    await daemon.start();
    if (interrupted) return (await stopAll(), 130);
    out(`daemon up: ${daemon.httpUrl}/readyz  ${daemon.httpUrl}/metrics\n`);

    const producer = new Kafka({ clientId: 'demo-shop', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: true,
    });
    await producer.connect();
    const d = daemon;
    const send = async (events: ReturnType<Shop['tick']>) => {
      for (let i = 0; i < events.length; i += 5_000) {
        await producer.send({
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
    let started = Date.now();
    // History first: the rules' baselines need it. Played in minute by minute, waiting for the daemon to keep up
    // (the mock broker keeps only the newest few MB per partition).
    const shop = new Shop({
      seed: 42,
      checkoutsPerMinute: opts.checkoutsPerMinute,
      startTime: started - HISTORY_MIN * 60_000,
    });
    out(
      `simulated shop: ${opts.checkoutsPerMinute} checkouts/min across ios/android/web, ` +
        `eu/us/apac, adyen/stripe/paypal\n`,
    );
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
      await waitFor(async () => produced - (await consumed()) < 16_000, 60_000);
      if (m % 10 === 0) out(' .');
    }
    await waitFor(
      async () => Math.min(...(await d.windows.getWatermarks(checkout)).values()) >= started - 90_000,
      60_000,
    );
    out(' done\n\n');
    started = Date.now();
    const story = new Story(started);

    let tick = 0;
    let sending = false;
    await new Promise<void>((resolve) => {
      wake = resolve;
      if (interrupted) resolve();
      timer = setInterval(async () => {
        if (sending) return; // never overlap: a slow send skips a tick
        sending = true;
        try {
          const now = Date.now();
          const events = shop.tick(now);
          if (events.length) await send(events);
          await story.step(now, { shop, deploy, out, alerts: () => d.alerts.load(), printed });
          if (++tick % 5 === 0) out(await renderCounts(d, now));
          if (opts.durationSec !== undefined && now - started >= opts.durationSec * 1000) resolve();
        } catch (err) {
          out(`demo: ${errorMessage(err)}\n`);
        } finally {
          sending = false;
        }
      }, 1000);
    });
    clearInterval(timer);
    await producer.disconnect();
    await stopAll();
    return 0;
  } catch (err) {
    out(`demo failed: ${errorMessage(err)}\n`);
    await stopAll();
    return 1;
  }
}

const HISTORY_MIN = 100;
const STRIPE_ALERT = alertKey('checkout-payment-success-drop', { dimension: 'payment_provider', value: 'stripe' });

async function waitFor(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('the daemon did not keep up with the history being played in');
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface StoryDeps {
  shop: Shop;
  deploy(marker: Record<string, unknown>): Promise<void>;
  out(text: string): void;
  alerts(): Promise<Map<string, { status: string }>>;
  /** Incident triggers and resolves printed so far (one incident: every alert of the outage, grouped). */
  printed: { triggers: number; resolves: number };
}

/**
 * The demo's script, by wall time since going live and by what the daemon says: deploy, failure, (alert),
 * rollback, recovery, (resolve). The alert and the resolve are the daemon's own doing; the story only waits for them.
 */
class Story {
  private phase: 'steady' | 'deployed' | 'failing' | 'fired' | 'rolled_back' | 'done' = 'steady';
  private firedAt = 0;

  constructor(private readonly live: number) {}

  async step(now: number, d: StoryDeps): Promise<void> {
    const t = (now - this.live) / 1000;
    const stamp = new Date(now).toISOString().slice(11, 19);
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
        d.out(`\n${stamp} injected fault: most stripe payments now fail; the servers still look healthy\n\n`);
        this.phase = 'failing';
        return;
      case 'failing':
        if ((await d.alerts()).get(STRIPE_ALERT)?.status !== 'firing') return;
        this.firedAt = now;
        this.phase = 'fired';
        return;
      case 'fired':
        // The page (after the incident's group_wait) is on screen, and a minute has passed.
        if (now - this.firedAt < 60_000 || d.printed.triggers === 0) return;
        await d.deploy({
          service: 'payments-service',
          version: '2.3.9',
          environment: 'production',
          ts: new Date(now).toISOString(),
          author: 'sam',
          attrs: { rollback: 'true' },
        });
        d.shop.setProviderFailure('stripe', 0, now);
        d.out(
          `\n${stamp} rollback: payments-service 2.3.9 deployed (marker posted); stripe payments succeed again\n\n`,
        );
        this.phase = 'rolled_back';
        return;
      case 'rolled_back':
        // The incident resolves with its last alert, at the group's next update (group_interval).
        if ((await d.alerts()).get(STRIPE_ALERT)?.status === 'firing' || d.printed.resolves === 0) return;
        d.out(
          `\n${stamp} the story is complete: ` +
            `deploy, drop, page naming stripe and the deploy, rollback, resolve. Ctrl-C stops the demo.\n\n`,
        );
        this.phase = 'done';
        return;
      case 'done':
        return;
    }
  }
}
