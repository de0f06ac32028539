/**
 * The `replay` and `backtest` commands behind main.ts: flags checked, the run, errors turned into a message and an
 * exit code (1 a problem with the input or the run, 2 bad usage). Output streams are passed in for tests.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { FwError, errorMessage } from '../core/errors.js';
import { parseWhen } from '../deploys/deploy.js';
import { explainDuration, parseDuration } from '../rules/units.js';
import { formatReplaySummary, runReplay } from './replay.js';
import { runBacktest } from './backtest.js';

export interface CommandIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface ReplayFlags {
  events: string[];
  rules?: string;
  from?: string;
  to?: string;
  deploys?: string;
  out?: string;
  redis?: string;
}

class UsageError extends Error {}

function when(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const r = parseWhen(v, Date.now());
  if (!r.ok) throw new UsageError(`--${flag}: ${r.message}`);
  return r.ms;
}

async function exitCodeOf(err: unknown, io: CommandIo, what: string): Promise<number> {
  if (err instanceof UsageError) {
    io.err(`funnelwatch ${what}: ${err.message}`);
    return 2;
  }
  io.err(`funnelwatch ${what}: ${err instanceof FwError ? err.message : errorMessage(err)}`);
  return 1;
}

export async function runReplayCommand(
  flags: ReplayFlags,
  io: CommandIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let file: WriteStream | null = null;
  try {
    if (!flags.events || flags.events.length === 0) throw new UsageError('--events FILE... is required');
    const from = when('from', flags.from);
    const to = when('to', flags.to);
    if (from !== undefined && to !== undefined && to <= from) throw new UsageError('--to must be after --from');
    if (flags.out) {
      file = createWriteStream(flags.out);
      await once(file, 'open').catch((err: unknown) => {
        throw new FwError('REPLAY_UNWRITABLE', `cannot write ${flags.out}: ${errorMessage(err)}`);
      });
    }
    const sink = file;
    const summary = await runReplay({
      events: flags.events,
      rulesDir: flags.rules ?? env.FW_RULES_DIR ?? './rules',
      from,
      to,
      deploysFile: flags.deploys,
      redisUrl: flags.redis ?? env.FW_REDIS_URL,
      // FW_REDIS_CLUSTER describes FW_REDIS_URL, not a --redis given on the command line.
      redisCluster: flags.redis === undefined && /^(true|1|yes)$/.test(env.FW_REDIS_CLUSTER ?? ''),
      // As the daemon and backtest: deploys to other environments rank lower.
      ...(env.FW_ENVIRONMENT !== undefined ? { environment: env.FW_ENVIRONMENT } : {}),
      out: sink
        ? (l) => {
            if (!sink.write(`${l}\n`)) return once(sink, 'drain').then(() => undefined);
          }
        : (l) => io.out(l),
      progress: (p) =>
        io.err(
          `replay: ${new Date(p.virtualAt).toISOString()}  ${p.eventsRead} events, ${p.minutes} virtual min, ` +
            `${p.transitions} transitions, ${Math.round(p.minutes / (p.wallMs / 60_000))}× real time`,
        ),
    });
    if (sink) {
      sink.end();
      await once(sink, 'finish');
      file = null;
    }
    io.err(formatReplaySummary(summary));
    return 0;
  } catch (err) {
    return exitCodeOf(err, io, 'replay');
  } finally {
    file?.destroy();
  }
}

export interface BacktestFlags {
  rule?: string;
  ruleFile?: string;
  since?: string;
  rules?: string;
}

/** Where the live data is: the daemon's configuration (FW_REDIS_URL, FW_REDIS_PREFIX, FW_RULES_DIR). */
export interface LiveTarget {
  redisUrl: string;
  /** FW_REDIS_CLUSTER. */
  redisCluster?: boolean;
  prefix: string;
  rulesDir: string;
  /** FW_ENVIRONMENT: deploys to other environments rank lower, as in the daemon. */
  environment?: string;
}

export async function runBacktestCommand(flags: BacktestFlags, live: LiveTarget, io: CommandIo): Promise<number> {
  try {
    if (!flags.rule) throw new UsageError('--rule NAME is required');
    const since = flags.since ?? '14d';
    const why = explainDuration(since);
    if (why !== undefined) throw new UsageError(`--since: ${why}`);
    await runBacktest({
      redisUrl: live.redisUrl,
      redisCluster: live.redisCluster === true,
      prefix: live.prefix,
      rulesDir: flags.rules ?? live.rulesDir,
      rule: flags.rule,
      ruleFile: flags.ruleFile,
      sinceMs: parseDuration(since),
      ...(live.environment !== undefined ? { environment: live.environment } : {}),
      out: io.out,
      progress: (p) => io.err(`backtest: ${new Date(p.virtualAt).toISOString()}  ${p.minutes}/${p.totalMinutes} min`),
    });
    return 0;
  } catch (err) {
    return exitCodeOf(err, io, 'backtest');
  }
}
