/**
 * The once-a-minute heartbeat of the daemon (node-cron, `noOverlap`: a slow run skips the next tick instead of
 * stacking). Tasks register here: compaction of the window store now; rule evaluation under the leader lease
 * later. Each task gets the injected clock's time, runs in order, and is timed and counted in /metrics; a failing
 * task is logged and does not stop the others or the next tick.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { errorMessage } from '../core/errors.js';

export interface TickTask {
  name: string;
  run(now: number): Promise<void>;
}

export class MinuteTicker {
  private readonly tasks: TickTask[] = [];
  private job: ScheduledTask | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly deps: { clock: Clock; logger: Logger; metrics: Metrics; expression?: string }) {}

  add(task: TickTask): void {
    this.tasks.push(task);
  }

  start(): void {
    this.job = cron.schedule(this.deps.expression ?? '* * * * *', () => this.runOnce(), {
      noOverlap: true,
      name: 'funnelwatch-tick',
      timezone: 'UTC',
    });
    this.job.on('execution:overlap', () => this.deps.metrics.tickSkipped.inc());
  }

  /** One pass over every task; also what the cron job calls. Concurrent calls share the pass in progress. */
  runOnce(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    const now = this.deps.clock.now();
    for (const task of this.tasks) {
      const end = this.deps.metrics.tickSeconds.startTimer({ task: task.name });
      try {
        await task.run(now);
        end();
      } catch (err) {
        end();
        this.deps.metrics.tickFailures.inc({ task: task.name });
        this.deps.logger.error({ task: task.name, err: errorMessage(err) }, 'tick task failed');
      }
    }
  }

  /** Stops scheduling and waits for a pass in progress. */
  async stop(): Promise<void> {
    await this.job?.destroy();
    this.job = null;
    await this.running;
  }
}
