/**
 * Runs journeys: on their schedule (`start`, until `stop`) or each once (`runAll`). Every run's events go to the
 * sink (the daemon's ingest endpoint); every run is logged with its outcome, a failure with its step, reason, status,
 * latency and redacted excerpt. Never two runs of one journey at once: the schedule holds a journey while it runs.
 */
import { Agent } from 'undici';
import { systemClock, type Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Metrics } from '../obs/metrics.js';
import type { RuleStoreLogger } from '../rules/rule-store.js';
import type { EventSink } from './event-sink.js';
import type { Journey, JourneySet } from './load.js';
import { runEvents } from './run-events.js';
import { runJourney, type RunResult } from './run-journey.js';
import { ProbeSchedule } from './schedule.js';

export interface ProbeRunnerOptions {
  sink: EventSink;
  logger: RuleStoreLogger;
  /** The runner's location label; a journey's own `location` is used when this is undefined. */
  location?: string;
  clock?: Clock;
  random?: () => number;
  env?: Record<string, string | undefined>;
  /** Runs, failures and step latency per journey, step and location. */
  metrics?: Metrics;
  /** Keeps each run's result where probe alerts read it (run-store.ts); a failure is logged, the run still counts. */
  record?: (run: RunResult) => Promise<void>;
  /** Scheduled runs happen only while this says so (the daemon: on the evaluation lease holder, one replica). */
  shouldRun?: () => boolean;
}

export interface RunReport {
  run: RunResult;
  /** The events reached the daemon. */
  delivered: boolean;
  deliveryError?: string;
}

export class ProbeRunner {
  private readonly clock: Clock;
  private readonly schedule: ProbeSchedule;
  private readonly dispatcher = new Agent({ keepAliveTimeout: 4_000 });
  private journeys = new Map<string, Journey>();
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Timers run between start() and stop(); tick() works before start() (tests drive it by hand). */
  private started = false;
  private stopped = false;

  constructor(private readonly o: ProbeRunnerOptions) {
    this.clock = o.clock ?? systemClock;
    this.schedule = new ProbeSchedule(o.random);
  }

  /** Runs `journey` once and sends its events. */
  async runOne(journey: Journey): Promise<RunReport> {
    const location = this.o.location ?? journey.location ?? 'default';
    const run = await runJourney(journey, {
      clock: this.clock,
      dispatcher: this.dispatcher,
      location,
      ...(this.o.env ? { env: this.o.env } : {}),
    });
    this.count(run);
    const [sent, recorded] = await Promise.all([
      this.o.sink.send(runEvents(run, journey.funnel)),
      this.o.record
        ? this.o.record(run).then(
            () => null,
            (err: unknown) => errorMessage(err),
          )
        : null,
    ]);
    if (recorded !== null) {
      this.o.metrics?.probeRunsUndelivered.inc({ journey: run.journey });
      this.o.logger.error({ journey: run.journey, runId: run.runId, err: recorded }, 'probe run result not recorded');
    }
    const f = run.failure;
    const fields = {
      journey: run.journey,
      runId: run.runId,
      location,
      durationMs: run.finishedAt - run.startedAt,
      ...(f ? { step: f.step, reason: f.reason, status: f.status, latencyMs: f.latencyMs, excerpt: f.excerpt } : {}),
    };
    if (f) this.o.logger.warn(fields, `journey ${run.journey} failed: ${f.message}`);
    else this.o.logger.info(fields, `journey ${run.journey} passed`);
    if (!sent.ok) this.o.metrics?.probeRunsUndelivered.inc({ journey: run.journey });
    if (!sent.ok)
      this.o.logger.error({ journey: run.journey, runId: run.runId, err: sent.reason }, 'probe events not delivered');
    return { run, delivered: sent.ok, ...(sent.ok ? {} : { deliveryError: sent.reason }) };
  }

  private count(run: RunResult): void {
    const m = this.o.metrics;
    if (!m) return;
    const { journey, location } = run;
    m.probeRuns.inc({ journey, location, outcome: run.ok ? 'passed' : 'failed' });
    for (const s of run.steps) m.probeStepSeconds.observe({ journey, step: s.step, location }, s.latencyMs / 1000);
    const f = run.failure;
    if (f) m.probeFailures.inc({ journey, step: f.step, location, reason: f.reason });
  }

  /** Every journey once, concurrently (`funnelwatch probe --once`). */
  runAll(set: JourneySet): Promise<RunReport[]> {
    return Promise.all(set.journeys.map((j) => this.runOne(j)));
  }

  /** Takes a (re)loaded set: schedules new journeys, forgets removed ones, keeps the others' place. */
  use(set: JourneySet): void {
    this.journeys = new Map(set.journeys.map((j) => [j.name, j]));
    this.schedule.sync(set.journeys, this.clock.now());
    this.arm();
  }

  /** Starts the scheduled runs of the journeys given to `use`. */
  start(): void {
    if (this.stopped) return;
    this.started = true;
    this.arm();
  }

  /** Stops scheduling and waits for runs in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight]);
    await this.dispatcher.close();
    await this.o.sink.close();
  }

  /** Resolves when no run is in flight (a story that moves a ManualClock waits for the runs `tick` started). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Starts what is due now (exposed for tests that move a ManualClock); returns the names started. */
  tick(): string[] {
    if (this.stopped) return [];
    const started = this.schedule.due(this.clock.now());
    for (const name of started) {
      const journey = this.journeys.get(name);
      if (!journey || (this.o.shouldRun && !this.o.shouldRun())) {
        this.schedule.finished(name, this.clock.now());
        continue;
      }
      const p = this.runOne(journey)
        .catch((err) => this.o.logger.error({ journey: name, err: errorMessage(err) }, 'probe run crashed'))
        .finally(() => {
          this.inFlight.delete(p);
          this.schedule.finished(name, this.clock.now());
          this.arm();
        });
      this.inFlight.add(p);
    }
    return started;
  }

  isRunning(name: string): boolean {
    return this.schedule.isRunning(name);
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (!this.started || this.stopped) return;
    const wake = this.schedule.nextWakeAt();
    if (wake === undefined) return;
    const delay = Math.max(0, Math.min(wake - this.clock.now(), 2 ** 31 - 1));
    this.timer = setTimeout(() => {
      this.tick();
      this.arm();
    }, delay);
  }
}
