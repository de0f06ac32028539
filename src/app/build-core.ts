/**
 * The core every composition root builds the same way: the daemon (daemon.ts), replay and backtest (replay/). From
 * one set of settings it makes the window store, the alert, completeness and deploy stores, the evaluation lease,
 * the evaluator with all of its options, and the ingest handler with its parse options. The roots differ only in
 * what they pass in (prefix, clock, rules, notifier, lease owner) and in what they do around the core (the daemon
 * serves HTTP and Kafka and runs a ticker; replay and backtest drive a virtual clock), so an option added here
 * reaches all three: none can evaluate with settings the others lack.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Clock } from '../core/clock.js';
import { loadConfig, type Config } from '../config/config.js';
import { DEFAULT_FIELDS, DEFAULT_PARSE_OPTIONS, type ParseOptions } from '../events/parse.js';
import type { FunnelDef } from '../funnels/funnel.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { RuleSet } from '../rules/rule-set.js';
import { RedisWindowStore } from '../windows/redis-window-store.js';
import { createIngestHandler } from '../ingest/pipeline.js';
import { FeedLiveness } from '../ingest/feed-liveness.js';
import { OffsetRegressions } from '../ingest/offset-regressions.js';
import { UnmatchedFilters } from '../ingest/unmatched.js';
import type { DeadLetterSink } from '../ingest/dead-letter.js';
import type { BatchHandler } from '../ingest/event-source.js';
import { RedisDeployStore } from '../deploys/deploy-store.js';
import type { Notifier } from '../notify/notifier.js';
import { Evaluator, type EvaluatorOptions } from '../engine/evaluator.js';
import type { FunnelSource } from '../engine/funnel-data.js';
import { LeaderLease } from '../engine/lease.js';
import { RedisAlertStore } from '../engine/alert-store.js';
import { RedisCompletenessStore } from '../engine/completeness-store.js';
import { GroupStore } from '../notify/group-store.js';

/** The configuration the core reads. The daemon passes its Config; replay and backtest the defaults (below). */
const CORE_SETTINGS = [
  'FW_EVENT_FIELDS',
  'FW_EVENT_MAX_FUTURE_MS',
  'FW_EVENT_MAX_AGE_MS',
  'FW_EVENT_MAX_BYTES',
  'FW_STALE_AFTER_MS',
  'FW_EVAL_MAX_SEGMENT_VALUES',
  'FW_REMIND_EVERY_MS',
  'FW_DEPLOY_RETENTION_MS',
  'FW_DEPLOY_LOOKBACK_MS',
  'FW_ENVIRONMENT',
] as const satisfies readonly (keyof Config)[];
export type CoreSettings = Pick<Config, (typeof CORE_SETTINGS)[number]>;

/** A daemon's defaults with `overrides`: replay and backtest judge as a daemon left at its defaults would. */
export function defaultCoreSettings(overrides: Partial<CoreSettings> = {}): CoreSettings {
  const d = loadConfig({});
  return { ...(Object.fromEntries(CORE_SETTINGS.map((k) => [k, d[k]])) as CoreSettings), ...overrides };
}

/** How events are parsed (all but `now`), for the ingest handler and HTTP ingest alike. */
export function parseOptionsOf(s: CoreSettings): Omit<ParseOptions, 'now'> {
  return {
    ...DEFAULT_PARSE_OPTIONS,
    fields: { ...DEFAULT_FIELDS, ...s.FW_EVENT_FIELDS },
    maxFutureMs: s.FW_EVENT_MAX_FUTURE_MS,
    maxAgeMs: s.FW_EVENT_MAX_AGE_MS,
    maxBytes: s.FW_EVENT_MAX_BYTES,
  };
}

export interface CoreOptions {
  redis: Redis | Cluster;
  /** Key prefix of everything the core writes (alerts, lease, completeness, windows, deploys). */
  prefix: string;
  settings: CoreSettings;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** The rule set to evaluate (throws when none is loaded). */
  rules: () => RuleSet;
  /** The funnels events are applied to (empty while no rule set is loaded). */
  funnels: () => readonly FunnelDef[];
  /** Sees every committed alert transition. */
  notifier: Notifier;
  lease: { owner: string; ttlMs: number; onChange?: (leader: boolean, token: number | undefined) => void };
  /** Active silences (the daemon's store); absent: nothing is silenced. */
  silences?: EvaluatorOptions['silences'];
  /** Where the evaluator reads funnel data; default the core's window store (backtest: live windows as of a minute). */
  funnelSource?: FunnelSource;
  /** Deploy markers the evaluator correlates; default the core's deploy store (backtest: the live ones, read only). */
  deployMarkers?: EvaluatorOptions['deploys'];
  /** Canary-user alerts the evaluator steps with the rules (probes/probe-alerts.ts); absent: none. */
  probes?: EvaluatorOptions['probes'];
  /** Hears of Redis state loss the window store met (redis/state-loss.ts). */
  onRedisStateLost?: (what: string, detail: string) => void;
}

export interface Core {
  windows: RedisWindowStore;
  alerts: RedisAlertStore;
  deploys: RedisDeployStore;
  lease: LeaderLease;
  evaluator: Evaluator;
  /** The evaluator's options other than rules, states, lease and curves (engine/sharded-evaluation.ts). */
  evaluatorBase: CoreEvaluatorBase;
  /** The incident groups per receiver (notify/grouping.ts), as the evaluator committed them. */
  groups: GroupStore;
  parse: Omit<ParseOptions, 'now'>;
  /** Watermark and last-event ages per funnel; the daemon refreshes them on every tick. */
  liveness: FeedLiveness;
  /** Kafka partitions whose offsets went backwards (ingest/offset-regressions.ts), for /readyz. */
  regressions: OffsetRegressions;
  /** Steps whose `where` turns away (almost) all their events, and unused event types (ingest/unmatched.ts). */
  unmatched: UnmatchedFilters;
  /** The ingest pipeline's batch handler (Kafka consumer, direct HTTP ingest, replay); rejects to `deadLetters`. */
  ingestHandler(deadLetters: DeadLetterSink): BatchHandler;
}

export type CoreEvaluatorBase = Omit<
  EvaluatorOptions,
  'rules' | 'alerts' | 'lease' | 'groups' | 'completenessStore' | 'completeness'
>;

export function buildCore(o: CoreOptions): Core {
  const { redis, prefix, settings: s, clock, logger, metrics } = o;
  const parse = parseOptionsOf(s);
  const windows = new RedisWindowStore({
    redis,
    prefix,
    ...(o.onRedisStateLost ? { onStateLost: o.onRedisStateLost } : {}),
  });
  const alerts = new RedisAlertStore({ redis, prefix });
  const deploys = new RedisDeployStore({
    redis,
    prefix,
    retentionMs: s.FW_DEPLOY_RETENTION_MS,
    clock: () => clock.now(),
    logger: logger.child({ component: 'deploys' }),
  });
  const lease = new LeaderLease({
    redis,
    prefix,
    owner: o.lease.owner,
    ttlMs: o.lease.ttlMs,
    clock,
    logger: logger.child({ component: 'lease' }),
    ...(o.lease.onChange ? { onChange: o.lease.onChange } : {}),
  });
  const groups = new GroupStore(redis, prefix, logger.child({ component: 'evaluator' }));
  // Everything an evaluator needs besides its rules, states, lease and curves: sharded evaluation builds one per shard.
  const evaluatorBase: CoreEvaluatorBase = {
    store: o.funnelSource ?? windows,
    clock,
    metrics,
    logger: logger.child({ component: 'evaluator' }),
    notifier: o.notifier,
    staleAfterMs: s.FW_STALE_AFTER_MS,
    maxValuesPerDimension: s.FW_EVAL_MAX_SEGMENT_VALUES,
    ...(o.silences ? { silences: o.silences } : {}),
    remindEveryMs: s.FW_REMIND_EVERY_MS,
    deploys: o.deployMarkers ?? deploys,
    deployLookbackMs: s.FW_DEPLOY_LOOKBACK_MS,
    ...(s.FW_ENVIRONMENT ? { environment: s.FW_ENVIRONMENT } : {}),
  };
  const evaluator = new Evaluator({
    ...evaluatorBase,
    alerts,
    lease,
    rules: o.rules,
    completenessStore: new RedisCompletenessStore({ redis, prefix }),
    groups,
    ...(o.probes ? { probes: o.probes } : {}),
  });
  const liveness = new FeedLiveness({ store: windows, metrics, startedAt: clock.now() });
  const onApplied = (funnel: string, now: number) => liveness.noteApplied(funnel, now);
  const regressions = new OffsetRegressions({ metrics, logger: logger.child({ component: 'ingest' }) });
  const unmatched = new UnmatchedFilters({ metrics, logger: logger.child({ component: 'ingest' }) });
  return {
    windows,
    alerts,
    deploys,
    lease,
    evaluator,
    evaluatorBase,
    groups,
    parse,
    liveness,
    regressions,
    unmatched,
    ingestHandler: (deadLetters) =>
      createIngestHandler({
        funnels: o.funnels,
        store: windows,
        deadLetters,
        metrics,
        logger,
        clock,
        parse,
        onApplied,
        regressions,
        unmatched,
      }),
  };
}
