/**
 * The active journeys and their hot reload, on the rule store's model (rules/rule-store.ts): a reload reads the whole
 * directory, checks it as one set and swaps it in with one assignment; when anything is wrong nothing changes, the
 * last good set keeps running and the problems are logged as `path:line:col: message`. Reloads run one at a time
 * and file events are debounced, watching with the rule store's watcher.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import { formatProblem, type Problem } from '../rules/problem.js';
import { fsDirWatcher, type DirWatcher, type RuleStoreLogger } from '../rules/rule-store.js';
import { loadJourneyPaths, type JourneyLoadOptions, type JourneySet } from './load.js';

export type JourneyReload = { ok: true; set: JourneySet; changed: boolean } | { ok: false; problems: Problem[] };

export interface JourneyStoreOptions {
  dir: string;
  logger: RuleStoreLogger;
  /** A function when they change (the daemon checks funnels and receivers against the rule files loaded now). */
  loadOptions: JourneyLoadOptions | (() => JourneyLoadOptions);
  debounceMs?: number;
  /** Delay before watching again after the watcher failed (directory removed or replaced). Default 5 s. */
  rewatchMs?: number;
  clock?: Clock;
  watcher?: DirWatcher;
}

export class JourneyStore {
  private active: JourneySet | undefined;
  private errors: Problem[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private watchHandle: { close(): void } | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly listeners = new Set<(r: JourneyReload) => void>();
  private readonly clock: Clock;

  constructor(private readonly o: JourneyStoreOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** The active set, or null before the first good load. A reload replaces the object, never edits it. */
  get current(): JourneySet | null {
    return this.active ?? null;
  }

  get lastErrors(): readonly Problem[] {
    return this.errors;
  }

  onReload(listener: (r: JourneyReload) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  reload(): Promise<JourneyReload> {
    const next = this.chain.then(() => this.runReload());
    this.chain = next.catch(() => undefined);
    return next;
  }

  watch(): void {
    if (this.closed || this.watchHandle) return;
    try {
      this.watchHandle = (this.o.watcher ?? fsDirWatcher)(
        this.o.dir,
        () => this.scheduleReload(),
        (err) => this.watchFailed(err),
      );
    } catch (err) {
      this.watchFailed(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounceTimer);
    clearTimeout(this.rewatchTimer);
    this.watchHandle?.close();
    this.watchHandle = undefined;
    await this.chain;
    this.listeners.clear();
  }

  private scheduleReload(): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      if (!this.closed) void this.reload();
    }, this.o.debounceMs ?? 250);
    this.debounceTimer.unref?.();
  }

  /** As the rule store does: reload now (the directory may have been replaced) and watch again after a pause. */
  private watchFailed(err: unknown): void {
    this.watchHandle?.close();
    this.watchHandle = undefined;
    if (this.closed) return;
    const retryInMs = this.o.rewatchMs ?? 5_000;
    this.o.logger.warn(
      { dir: this.o.dir, err: errorMessage(err), retryInMs },
      'watching the probes directory failed; retrying',
    );
    this.scheduleReload();
    clearTimeout(this.rewatchTimer);
    this.rewatchTimer = setTimeout(() => {
      this.rewatchTimer = undefined;
      this.watch();
    }, retryInMs);
    this.rewatchTimer.unref?.();
  }

  private async runReload(): Promise<JourneyReload> {
    const started = this.clock.now();
    const result = await loadJourneyPaths(
      [this.o.dir],
      typeof this.o.loadOptions === 'function' ? this.o.loadOptions() : this.o.loadOptions,
    );
    const durationMs = this.clock.now() - started;
    let outcome: JourneyReload;
    if (result.ok) {
      const previousVersion = this.active?.version;
      const changed = previousVersion !== result.set.version;
      if (changed) this.active = result.set; // the swap: one assignment
      this.errors = [];
      outcome = { ok: true, set: this.active!, changed };
      this.o.logger.info(
        { version: this.active!.version, previousVersion, journeys: this.active!.journeys.length, durationMs },
        changed ? 'journeys loaded' : 'journeys unchanged',
      );
    } else {
      this.errors = result.problems;
      outcome = { ok: false, problems: result.problems };
      this.o.logger.error(
        {
          activeVersion: this.active?.version,
          problemCount: result.problems.length,
          problems: result.problems.slice(0, 20).map(formatProblem),
        },
        this.active ? 'journeys rejected; keeping the previous set' : 'journeys rejected; no journey is active',
      );
    }
    for (const listener of this.listeners) listener(outcome);
    return outcome;
  }
}
