/**
 * `funnelwatch demo`: everything on one machine, nothing to set up. Starts its own redis-server and a
 * Kafka-protocol broker (kcat's librdkafka mock cluster) like the tests do, runs the daemon in-process against
 * them with the example rules, and a simulated shop that produces checkout and signup events to Kafka in real
 * time. Every few seconds it prints the live per-step counts per funnel, read back from the windows in Redis.
 * Ctrl-C (or --duration) stops everything and leaves no process behind.
 */
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { startRedisServer, type RedisServerHandle } from '../devenv/redis-server.js';
import { startMockKafka, type MockKafkaHandle } from '../devenv/mock-kafka.js';
import { loadConfig } from '../config/config.js';
import { createLogger } from '../obs/logger.js';
import { Daemon } from '../app.js';
import { ConsoleReceiver } from '../notify/console-receiver.js';
import { Shop } from './shop.js';
import { errorMessage } from '../errors.js';
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
    });
    const logger = createLogger({ level: process.env.FW_LOG_LEVEL ?? 'warn', pretty: 'auto' });
    // The demo has no Slack or PagerDuty: every receiver the rules name is a console receiver here, so each page
    // prints once per receiver it would reach, through the real outbox, between the count views.
    daemon = new Daemon({
      config, logger,
      receiverFactory: (def) => new ConsoleReceiver({ def: { name: def.name, kind: 'console' }, write: (line) => out(`\n[${def.name}] ${line}\n`) }),
    });
    await daemon.start();
    if (interrupted) return (await stopAll(), 130);
    out(`daemon up: ${daemon.httpUrl}/readyz  ${daemon.httpUrl}/metrics\n`);

    const producer = new Kafka({ clientId: 'demo-shop', brokers: kafka.brokers, logLevel: logLevel.NOTHING })
      .producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true });
    await producer.connect();
    const started = Date.now();
    // Start with ten minutes of history, so the first view shows a funnel in steady state, not one filling up.
    const shop = new Shop({ seed: 42, checkoutsPerMinute: opts.checkoutsPerMinute, startTime: started - 10 * 60_000 });
    out(`simulated shop: ${opts.checkoutsPerMinute} checkouts/min across ios/android/web, eu/us/apac, adyen/stripe/paypal; Ctrl-C stops\n\n`);

    const d = daemon;
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
          if (events.length) await producer.send({ topic: 'funnel-events', messages: events.map((e) => ({ key: e.entity, value: JSON.stringify(e) })) });
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
