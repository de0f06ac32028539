/**
 * `funnelwatch probe`: the canary-user runner as its own process (so several can run from several places, each
 * with its `--location`). Loads the journeys of `--dir`, then one of:
 *   --check  only checks them: `path:line:col: message` per problem, exit 1 on problems;
 *   --once   runs each once and exits: 0 when all passed and their events reached the daemon, 1 when a run failed
 *            or its events did not arrive, 2 when the journey files are invalid;
 *   neither  runs them on their schedules until SIGINT/SIGTERM, reloading the directory when it changes (and on
 *            SIGHUP) and keeping the last good set when a file breaks.
 */
import type { Clock } from '../core/clock.js';
import { formatProblem } from '../rules/problem.js';
import type { RuleStoreLogger } from '../rules/rule-store.js';
import { HttpEventSink, type EventSink } from './event-sink.js';
import { JourneyStore } from './journey-store.js';
import { loadJourneyPaths } from './load.js';
import { ProbeRunner } from './runner.js';
import { createRedisClient } from '../redis/client.js';
import { RedisProbeRuns } from './run-store.js';

export const DEFAULT_PROBES_DIR = 'probes';
export const DEFAULT_ENVIRONMENT = 'production';

export interface ProbeCommandArgs {
  dir: string;
  once: boolean;
  /** Only check the journey files (like `funnelwatch validate` for rules): exit 1 on problems. */
  check?: boolean;
  environment: string;
  location?: string;
  /** The daemon (ingest) base URL and token. */
  url: string;
  token?: string;
  /** The daemon's Redis (standalone, not a cluster) and key prefix: each run's result is recorded there for the
   *  daemon's probe alerts, as the daemon's own runner records it. Absent: events only, no probe alerts. */
  redis?: { url: string; prefix: string };
}

export interface ProbeCommandDeps {
  logger: RuleStoreLogger;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Resolves when the process should stop (a signal); scheduled mode only. */
  stopSignal: Promise<unknown>;
  /** Called on SIGHUP-like requests to reload; scheduled mode registers its reload here. */
  onReloadRequest?: (reload: () => void) => void;
  clock?: Clock;
  sink?: EventSink;
}

export async function runProbeCommand(args: ProbeCommandArgs, deps: ProbeCommandDeps): Promise<number> {
  const loadOptions = { environment: args.environment };
  const sink = deps.sink ?? new HttpEventSink(args.url, args.token);
  const redis = args.redis && !args.check ? createRedisClient({ url: args.redis.url, variable: '--redis' }) : null;
  const runs = redis && args.redis ? new RedisProbeRuns(redis, args.redis.prefix) : null;
  const runner = new ProbeRunner({
    sink: {
      send: (events) => sink.send(events),
      close: async () => {
        await sink.close();
        if (redis) await (redis.status === 'ready' ? redis.quit() : redis.disconnect());
      },
    },
    logger: deps.logger,
    ...(runs ? { record: (run) => runs.record(run) } : {}),
    ...(args.location ? { location: args.location } : {}),
    ...(deps.clock ? { clock: deps.clock } : {}),
  });

  if (args.check) {
    const loaded = await loadJourneyPaths([args.dir], loadOptions);
    await runner.stop();
    if (!loaded.ok) {
      for (const p of loaded.problems) deps.out(formatProblem(p));
      deps.out(`${loaded.problems.length} problem${loaded.problems.length === 1 ? '' : 's'}`);
      return 1;
    }
    const n = loaded.set.journeys.length;
    deps.out(`ok: ${n} journey${n === 1 ? '' : 's'} (environment ${args.environment})`);
    return 0;
  }

  if (args.once) {
    const loaded = await loadJourneyPaths([args.dir], loadOptions);
    if (!loaded.ok) {
      for (const p of loaded.problems) deps.err(formatProblem(p));
      await runner.stop();
      return 2;
    }
    const reports = await runner.runAll(loaded.set);
    await runner.stop();
    let failed = 0;
    for (const { run, delivered, deliveryError } of reports) {
      const ms = run.finishedAt - run.startedAt;
      if (run.failure) deps.out(`FAIL ${run.journey} (${ms} ms, run ${run.runId}): ${run.failure.message}`);
      else deps.out(`ok   ${run.journey} (${ms} ms, run ${run.runId})`);
      if (!delivered) deps.out(`     events of ${run.journey} not delivered: ${deliveryError}`);
      if (run.failure || !delivered) failed++;
    }
    deps.out(`${reports.length - failed} of ${reports.length} journeys passed`);
    return failed > 0 ? 1 : 0;
  }

  const store = new JourneyStore({ dir: args.dir, logger: deps.logger, loadOptions });
  store.onReload((r) => {
    if (r.ok && r.changed) runner.use(r.set);
  });
  const first = await store.reload();
  if (!first.ok) {
    for (const p of first.problems) deps.err(formatProblem(p));
    await Promise.all([store.close(), runner.stop()]);
    return 2;
  }
  store.watch();
  deps.onReloadRequest?.(() => void store.reload());
  runner.start();
  await deps.stopSignal;
  await store.close();
  await runner.stop();
  return 0;
}
