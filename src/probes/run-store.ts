/**
 * Probe run results in Redis, where every runner (the daemon's own, `funnelwatch probe` processes in other regions
 * that share the Redis) writes and every daemon replica reads the same thing: per (journey, location) a sorted set
 * of the latest runs by finish time, member = the run's summary (its id makes each unique, so a result written twice
 * counts once), plus the set of locations a journey ran from. Both keys of a journey share one hash tag, so one
 * MULTI writes them in one Redis Cluster slot. Trimmed to the newest KEEP runs and expiring after a week idle.
 */
import type { RedisLike } from '../redis/client.js';
import type { RunResult } from './run-journey.js';

/** What the probe alert needs of a run. Secrets are already redacted in `message` and `excerpt` (run-journey.ts). */
export interface StoredRun {
  runId: string;
  at: number;
  ok: boolean;
  /** Latency per step name, for the slow-step condition. */
  latencies: Record<string, number>;
  step?: string;
  reason?: string;
  message?: string;
  status?: number;
  excerpt?: string;
}

const KEEP = 50;
const TTL_MS = 7 * 24 * 3_600_000;

export function probeKeys(prefix: string, journey: string): { locations: string; runs: (location: string) => string } {
  const base = `${prefix}:{probe:${journey}}:`;
  return { locations: `${base}locations`, runs: (location) => `${base}runs:${location}` };
}

export function storedRun(run: RunResult): StoredRun {
  const f = run.failure;
  return {
    runId: run.runId,
    at: run.finishedAt,
    ok: run.ok,
    latencies: Object.fromEntries(run.steps.map((s) => [s.step, s.latencyMs])),
    ...(f
      ? {
          step: f.step,
          reason: f.reason,
          message: f.message,
          excerpt: f.excerpt,
          ...(f.status !== undefined ? { status: f.status } : {}),
        }
      : {}),
  };
}

export class RedisProbeRuns {
  constructor(
    private readonly redis: RedisLike,
    private readonly prefix: string,
  ) {}

  async record(run: RunResult): Promise<void> {
    const k = probeKeys(this.prefix, run.journey);
    const runs = k.runs(run.location);
    const res = await this.redis
      .multi()
      .zadd(runs, run.finishedAt, JSON.stringify(storedRun(run)))
      .zremrangebyrank(runs, 0, -(KEEP + 1))
      .pexpire(runs, TTL_MS)
      .sadd(k.locations, run.location)
      .pexpire(k.locations, TTL_MS)
      .exec();
    const failed = res?.find(([err]) => err);
    if (!res || failed) throw failed?.[0] ?? new Error('probe run not recorded: transaction aborted');
  }

  /** The locations `journey` ran from (within the retention). */
  async locations(journey: string): Promise<string[]> {
    return (await this.redis.smembers(probeKeys(this.prefix, journey).locations)).sort();
  }

  /** The newest `n` runs of `journey` at `location`, newest first. */
  async latest(journey: string, location: string, n: number): Promise<StoredRun[]> {
    const members = await this.redis.zrevrange(probeKeys(this.prefix, journey).runs(location), 0, n - 1);
    return members.map((m) => JSON.parse(m) as StoredRun);
  }
}
