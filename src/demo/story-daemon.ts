/**
 * The set-up the simulated-minute stories (canary, night) share: a throw-away redis-server and the daemon in-process
 * with the example rules, its receivers printing on the console through the real outbox (the demo has no Slack; a
 * job for several receivers prints once, at the first), every delivered job also shown to `onJob`.
 */
import { fileURLToPath } from 'node:url';
import type { Clock } from '../core/clock.js';
import { loadConfig, type Config } from '../config/config.js';
import { createLogger, type Logger } from '../obs/logger.js';
import { Daemon } from '../app/daemon.js';
import { consoleLines } from '../notify/console-receiver.js';
import type { DeliveryJob, Receiver } from '../notify/receiver.js';
import { startRedisServer, type RedisServerHandle } from '../devenv/redis-server.js';

const RULES_DIR = fileURLToPath(new URL('../../rules', import.meta.url));
const MIN = 60_000;

export interface StoryDaemon {
  daemon: Daemon;
  config: Config;
  logger: Logger;
  stop(): Promise<void>;
}

export async function startStoryDaemon(o: {
  out: (text: string) => void;
  /** How a delivered job is introduced on the console, e.g. "notification". */
  label: string;
  onJob?: (job: DeliveryJob) => void;
  /** The daemon's clock (default the system's): a story that plays minutes on a ManualClock gives it here. */
  clock?: Clock;
  /** More configuration (FW_PROBES_DIR, …). */
  env?: Record<string, string>;
}): Promise<StoryDaemon> {
  let redis: RedisServerHandle | undefined;
  let daemon: Daemon | undefined;
  const stop = async () => {
    await daemon?.stop().catch(() => undefined);
    await redis?.stop();
  };
  try {
    redis = await startRedisServer();
    const config = loadConfig({
      FW_REDIS_URL: redis.url,
      FW_RULES_DIR: RULES_DIR,
      FW_HTTP_PORT: process.env.FW_HTTP_PORT ?? '0',
      FW_HTTP_HOST: '127.0.0.1',
      FW_STALE_AFTER_MS: String(4 * 60 * MIN),
      ...o.env,
    });
    const logger = createLogger({ level: process.env.FW_LOG_LEVEL ?? 'error', pretty: 'auto' });
    const receiverFactory = (def: { name: string }): Receiver => ({
      name: def.name,
      kind: 'console',
      deliver: async (job) => {
        o.onJob?.(job);
        if (job.alert.notify.find((r) => r !== 'console') === def.name || job.alert.notify.length === 0)
          o.out(`\n  >> ${o.label} to ${job.alert.notify.join(', ')}: ${consoleLines(job).join('\n     ')}\n\n`);
        return { ok: true };
      },
    });
    daemon = new Daemon({ config, logger, receiverFactory, ...(o.clock ? { clock: o.clock } : {}) });
    await daemon.start();
    return { daemon, config, logger, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Polls `probe` until it holds; throws `what` after `timeoutMs`. */
export async function until(probe: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(what);
    await new Promise((r) => setTimeout(r, 50));
  }
}
