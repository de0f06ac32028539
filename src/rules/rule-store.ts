/**
 * The active rule set, and hot reload of it (Alertmanager's model): a reload reads the whole directory, checks it as
 * one set and swaps it in with a single assignment, so a reader sees either the old set or the new one, never a mix.
 * If anything is wrong, nothing changes: the previous set stays active and the problems are kept for `/readyz`, logs
 * and metrics. A half-saved file or a bad merge therefore costs a log line, not the alerting.
 *
 * Reloads run one at a time; requests that arrive while one runs are folded into a single follow-up (which reads
 * the newest files anyway). File-system events are debounced, because editors and `git checkout` touch a file
 * several times per save, and Kubernetes swaps a ConfigMap by renaming a `..data` link, which is why every event in
 * the directory counts, not only those naming a *.yaml file.
 */
import { watch as fsWatch } from 'node:fs';
import { systemClock, type Clock } from '../core/clock.js';
import { FwError, errorMessage } from '../core/errors.js';
import { type LoadOptions } from './loader.js';
import { loadRuleDirInWorker } from './load-in-worker.js';
import { formatProblem, type Problem } from './problem.js';
import type { LoadResult, RuleSet } from './rule-set.js';

/** The part of a pino logger the store uses; a pino `Logger` fits as it is. */
export interface RuleStoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type ReloadTrigger = 'initial' | 'manual' | 'watch' | 'signal';

export type ReloadOutcome =
  | {
      ok: true;
      trigger: ReloadTrigger;
      ruleSet: RuleSet;
      /** False when the files were read again but say the same (same version): nothing was swapped. */
      changed: boolean;
      previousVersion: string | undefined;
      durationMs: number;
    }
  | {
      ok: false;
      trigger: ReloadTrigger;
      problems: Problem[];
      /** The version still active (undefined if no set was ever loaded). */
      activeVersion: string | undefined;
      durationMs: number;
    };

export type ReloadListener = (outcome: ReloadOutcome) => void;

/** Calls `onChange` for any change in `dir`; `onError` when watching stops working (directory removed). */
export type DirWatcher = (dir: string, onChange: () => void, onError: (err: Error) => void) => { close(): void };

export interface RuleStoreOptions {
  dir: string;
  logger: RuleStoreLogger;
  /** Quiet time after the last file event before reloading. Default 250 ms. */
  debounceMs?: number;
  /** Delay before watching again after the watcher failed. Default 5 s. */
  rewatchMs?: number;
  loadOptions?: LoadOptions;
  clock?: Clock;
  /** Replaces `fs.watch` (tests). */
  watcher?: DirWatcher;
  /** Replaces reading the directory (tests). */
  load?: (dir: string, options: LoadOptions) => Promise<LoadResult>;
}

/** What `/readyz` shows about rules. */
export interface RuleStoreStatus {
  /** A rule set is active. */
  ready: boolean;
  version: string | undefined;
  /** When the active set was swapped in (clock ms). */
  loadedAt: number | undefined;
  lastReload: { at: number; trigger: ReloadTrigger; ok: boolean } | undefined;
  /** Problems of the last reload, formatted `path:line:col: message`; empty after a successful one. */
  errors: string[];
}

export const fsDirWatcher: DirWatcher = (dir, onChange, onError) => {
  // Not persistent: watching rules must not keep a process alive that is otherwise shutting down.
  const w = fsWatch(dir, { persistent: false }, () => onChange());
  w.on('error', onError);
  return { close: () => w.close() };
};

export class RuleStore {
  private readonly dir: string;
  private readonly logger: RuleStoreLogger;
  private readonly debounceMs: number;
  private readonly rewatchMs: number;
  private readonly loadOptions: LoadOptions;
  private readonly clock: Clock;
  private readonly watcher: DirWatcher;
  private readonly load: (dir: string, options: LoadOptions) => Promise<LoadResult>;

  private active: RuleSet | undefined;
  private loadedAt: number | undefined;
  private errors: Problem[] = [];
  private last: RuleStoreStatus['lastReload'];
  private readonly listeners = new Set<ReloadListener>();

  private chain: Promise<unknown> = Promise.resolve();
  private queued: Promise<ReloadOutcome> | undefined;
  private watchHandle: { close(): void } | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: RuleStoreOptions) {
    this.dir = options.dir;
    this.logger = options.logger;
    this.debounceMs = options.debounceMs ?? 250;
    this.rewatchMs = options.rewatchMs ?? 5_000;
    this.loadOptions = options.loadOptions ?? {};
    this.clock = options.clock ?? systemClock;
    this.watcher = options.watcher ?? fsDirWatcher;
    this.load = options.load ?? loadRuleDirInWorker;
  }

  /**
   * The active rule set, or null before the first successful load. Read it once per evaluation tick and use
   * that object throughout: a reload replaces the object, it never changes it.
   */
  get current(): RuleSet | null {
    return this.active ?? null;
  }

  /** Problems of the last reload attempt (empty when it succeeded). */
  get lastErrors(): readonly Problem[] {
    return this.errors;
  }

  status(): RuleStoreStatus {
    return {
      ready: this.active !== undefined,
      version: this.active?.version,
      loadedAt: this.loadedAt,
      lastReload: this.last,
      errors: this.errors.map(formatProblem),
    };
  }

  /** Called after every reload attempt, successful or not. Returns an unsubscribe function. */
  onReload(listener: ReloadListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the directory and swaps the set in if it is valid. Never rejects on bad rules; see the outcome. */
  reload(trigger: ReloadTrigger = 'manual'): Promise<ReloadOutcome> {
    if (this.closed) return Promise.reject(new FwError('rule_store_closed', 'the rule store is closed'));
    // A reload that has not started yet will read the newest files: later requests can share it.
    if (this.queued) return this.queued;
    const next = this.chain.then(() => {
      this.queued = undefined;
      return this.runReload(trigger);
    });
    this.queued = next;
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** For SIGHUP: `process.on('SIGHUP', () => void store.reloadOnSignal())`. */
  reloadOnSignal(): Promise<ReloadOutcome> {
    return this.reload('signal');
  }

  /** Reloads (debounced) whenever something in the directory changes, until `close()`. */
  watch(): void {
    if (this.closed || this.watchHandle) return;
    try {
      this.watchHandle = this.watcher(
        this.dir,
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
    await this.chain; // let a reload in progress finish, so nobody swaps a set after close() returned
    this.listeners.clear();
  }

  private scheduleReload(): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      if (!this.closed) void this.reload('watch');
    }, this.debounceMs);
    this.debounceTimer.unref?.();
  }

  private watchFailed(err: unknown): void {
    this.watchHandle?.close();
    this.watchHandle = undefined;
    if (this.closed) return;
    this.logger.warn(
      { dir: this.dir, err: errorMessage(err), retryInMs: this.rewatchMs },
      'watching the rules directory failed; retrying',
    );
    // The directory may have been replaced: reload now (keeps the old set if it is gone) and watch the new one.
    this.scheduleReload();
    this.rewatchTimer = setTimeout(() => {
      this.rewatchTimer = undefined;
      this.watch();
    }, this.rewatchMs);
    this.rewatchTimer.unref?.();
  }

  private async runReload(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const started = this.clock.now();
    let result: LoadResult;
    try {
      result = await this.load(this.dir, this.loadOptions);
    } catch (err) {
      // The loader reports problems rather than throwing; this is the net under an unexpected failure.
      result = {
        ok: false,
        problems: [
          { file: this.dir, line: 0, col: 0, code: 'io_error', message: `cannot load rules: ${errorMessage(err)}` },
        ],
      };
    }
    const at = this.clock.now();
    const durationMs = at - started;
    let outcome: ReloadOutcome;
    if (result.ok) {
      const previousVersion = this.active?.version;
      const changed = previousVersion !== result.ruleSet.version;
      if (changed) {
        this.active = result.ruleSet; // the swap: one assignment
        this.loadedAt = at;
      }
      this.errors = [];
      outcome = { ok: true, trigger, ruleSet: this.active!, changed, previousVersion, durationMs };
      const { version, funnels, rules } = this.active!;
      this.logger.info(
        { trigger, version, previousVersion, changed, funnels: funnels.length, rules: rules.length, durationMs },
        changed ? 'rules loaded' : 'rules unchanged',
      );
    } else {
      this.errors = result.problems;
      outcome = { ok: false, trigger, problems: result.problems, activeVersion: this.active?.version, durationMs };
      this.logger.error(
        {
          trigger,
          activeVersion: this.active?.version,
          problemCount: result.problems.length,
          problems: result.problems.slice(0, 20).map(formatProblem),
        },
        this.active ? 'rules rejected; keeping the previous rule set' : 'rules rejected; no rule set is active',
      );
    }
    this.last = { at, trigger, ok: outcome.ok };
    for (const listener of this.listeners) {
      try {
        listener(outcome);
      } catch (err) {
        this.logger.warn({ err: errorMessage(err) }, 'rule reload listener failed');
      }
    }
    return outcome;
  }
}
