/**
 * Composition root: builds every part from the configuration, starts them in order and stops them in reverse.
 * No singletons: a test can run several daemons in one process, each with its own registry, clients and ports.
 *
 * Start order: rules → Redis → Kafka producer → HTTP (health and ingest) → consumer → lease (or, with
 * FW_EVAL_SHARDING=funnel, the evaluation shards' heartbeat) → minute ticker.
 * Stop order (SIGTERM/SIGINT): minute ticker (waits for a run in progress) → lease (released) → consumer (finishes and
 * commits the batch in flight) → producer → HTTP → rule watcher → Redis. The whole stop is bounded by
 * FW_SHUTDOWN_TIMEOUT_MS.
 */
import type { FastifyInstance } from 'fastify';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { apiExposureProblem, ConfigError, type Config } from '../config/config.js';
import type { Logger } from '../obs/logger.js';
import { Metrics } from '../obs/metrics.js';
import { systemClock, type Clock } from '../core/clock.js';
import { Readiness } from '../http/readiness.js';
import { buildHttpServer } from '../http/server.js';
import { createRedisClient, redisReadiness, type RedisLike } from '../redis/client.js';
import { RedisStateWatch } from '../redis/state-loss.js';
import { InstanceLease } from '../redis/instance-lease.js';
import { alertsKeys } from '../redis/alert-keys.js';
import { KafkaSource } from '../ingest/kafka-source.js';
import { createKafkaClient, KAFKA_PRODUCER_RETRY } from '../ingest/kafka-client.js';
import { KafkaDeadLetterSink, type DeadLetterSink } from '../ingest/dead-letter.js';
import { httpIngestRoutes, KafkaIngestTarget, DirectIngestTarget, type IngestTarget } from '../ingest/http-ingest.js';
import { hostname } from 'node:os';
import type { ParseOptions } from '../events/parse.js';
import { RuleStore } from '../rules/rule-store.js';
import { type RedisWindowStore } from '../windows/redis-window-store.js';
import { MinuteTicker } from '../engine/minute-tick.js';
import { warmDetectors } from '../detect/warm-detectors.js';
import type { Evaluator } from '../engine/evaluator.js';
import type { LeaderLease } from '../engine/lease.js';
import type { RedisAlertStore } from '../engine/alert-store.js';
import { LogNotifier } from '../notify/log-notifier.js';
import type { Notifier } from '../notify/notifier.js';
import { DeliveryOutbox } from '../notify/outbox.js';
import { receiverFactory, ReceiverRegistry, type ReceiverFactory } from '../notify/receivers.js';
import { RedisReceiverFacts } from '../notify/receiver-facts.js';
import { RedisSilenceStore } from '../notify/silence-store.js';
import { silenceRoutes } from '../http/silence-routes.js';
import { alertRoutes } from '../http/alert-routes.js';
import { explainRoutes } from '../http/explain-routes.js';
import { explainRule } from '../engine/rule-explain.js';
import type { SegmentRef } from '../detect/series-reader.js';
import { deployRoutes } from '../http/deploy-routes.js';
import { gateRoutes } from '../http/gate-routes.js';
import { dashboardRoutes } from '../dashboard/routes.js';
import { backtestPreview } from '../replay/backtest-preview.js';
import { GateService } from '../gates/gate-service.js';
import { GateStore } from '../gates/gate-store.js';
import { RedisCompletenessStore } from '../engine/completeness-store.js';
import { ShardedEvaluation } from '../engine/sharded-evaluation.js';
import type { RedisDeployStore } from '../deploys/deploy-store.js';
import { createDeployMarkerHandler, deployRejectLabel } from '../deploys/deploy-marker-handler.js';
import { PagerDutyChangeEvents } from '../deploys/change-events.js';
import type { Deploy } from '../deploys/deploy.js';
import { VERSION } from '../core/version.js';
import { takeEarlySignal } from './early-signals.js';
import { errorMessage } from '../core/errors.js';
import { buildCore, type Core } from './build-core.js';
import { parseEvent } from '../events/parse.js';
import { JourneyStore } from '../probes/journey-store.js';
import { ProbeRunner } from '../probes/runner.js';
import { IngestTargetSink } from '../probes/event-sink.js';
import { RedisProbeRuns } from '../probes/run-store.js';
import { ProbeAlerts } from '../probes/probe-alerts.js';

const AUTH_NONE_WARNING =
  'FW_AUTH=none: the API (events, silences, deploys, alerts) needs no token; ' +
  'only safe behind something that authenticates';

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  /** Sees every committed alert transition (default: the log). Pages go through the receivers, not here. */
  notifier?: Notifier;
  /** Builds a receiver from its definition; default the real ones (the demo prints every receiver on the console). */
  receiverFactory?: ReceiverFactory;
}

export class Daemon {
  readonly metrics = new Metrics();
  readonly readiness = new Readiness();
  readonly redis: RedisLike;
  readonly rules: RuleStore;
  readonly windows: RedisWindowStore;
  readonly http: FastifyInstance;
  readonly ticker: MinuteTicker;
  readonly lease: LeaderLease;
  readonly alerts: RedisAlertStore;
  readonly evaluator: Evaluator;
  /** FW_EVAL_SHARDING=funnel: evaluation by shard (engine/sharded-evaluation.ts) instead of `lease` + `evaluator`. */
  readonly sharding: ShardedEvaluation | null = null;
  readonly receivers: ReceiverRegistry;
  readonly outbox: DeliveryOutbox;
  readonly silences: RedisSilenceStore;
  readonly deploys: RedisDeployStore;
  /** Canary gates: verdicts on demand, evidence records, announcements through the outbox. */
  readonly gates: GateService;
  /** Notices Redis losing its data and makes every part drop what it cached of Redis (redis/state-loss.ts). */
  readonly stateWatch: RedisStateWatch;
  /** Holds FW_INSTANCE_ID for this process: a second live daemon with the same id refuses to start. */
  readonly instanceLease: InstanceLease;
  /** Canary-user journeys (FW_PROBES_DIR) and their runner; null when the daemon runs none. */
  readonly journeys: JourneyStore | null = null;
  readonly probeRunner: ProbeRunner | null = null;
  private readonly changeEvents: PagerDutyChangeEvents | null = null;
  private deploySource: KafkaSource | null = null;
  /** The last permanent delivery failure per receiver, until its next success (shown on /readyz). */
  private readonly receiverFailures = new Map<string, string>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly core: Core;
  private readonly parseOptions: Omit<ParseOptions, 'now'>;
  private readonly kafka: Kafka | null = null;
  private readonly producer: Producer | null = null;
  private source: KafkaSource | null = null;
  private stopped = false;

  constructor(private readonly opts: DaemonOptions) {
    const { config, logger } = opts;
    // Closed by default: no API open to the network without a token (`funnelwatch run` exits 2 on this earlier).
    const exposed = apiExposureProblem(config);
    if (exposed) throw new ConfigError([exposed]);
    this.clock = opts.clock ?? systemClock;
    this.log = logger;
    this.redis = createRedisClient({
      url: config.FW_REDIS_URL,
      cluster: config.FW_REDIS_CLUSTER,
      logger,
      commandTimeoutMs: config.FW_REDIS_COMMAND_TIMEOUT_MS,
    });
    this.rules = new RuleStore({
      dir: config.FW_RULES_DIR,
      logger: logger.child({ component: 'rules' }),
      loadOptions: { requireReceivers: true },
    });
    this.rules.onReload((o) => {
      this.metrics.ruleReloads.inc({ outcome: o.ok ? 'ok' : 'failed' });
      this.metrics.ruleProblems.set(o.ok ? 0 : o.problems.length);
      // Before the first reload resolves, so start-up finishes (and /readyz turns ready) after the calibration.
      if (o.ok && o.changed) warmDetectors(o.ruleSet.funnels, o.ruleSet.rules);
    });
    this.readiness.add(redisReadiness(this.redis));
    if (config.FW_AUTH === 'none') {
      this.readiness.add({ name: 'auth', check: () => null, warning: () => AUTH_NONE_WARNING });
    }
    this.stateWatch = new RedisStateWatch({
      redis: this.redis,
      key: alertsKeys(config.FW_REDIS_PREFIX).epoch,
      logger: logger.child({ component: 'redis' }),
      metrics: this.metrics,
    });
    this.readiness.add({ name: 'redis-state', check: () => null, warning: () => this.stateWatch.warning() });
    this.ticker = new MinuteTicker({
      clock: this.clock,
      logger,
      metrics: this.metrics,
      expression: config.FW_TICK_SCHEDULE,
    });
    // Unset, the id is the host name plus a suffix of its own, so two daemons on one host never share one. A set id
    // keeps its direct-ingest stream (`http-<id>`) across restarts; a default one starts a new stream each start.
    const suffix = Math.random().toString(36).slice(2, 8);
    const instance =
      config.FW_INSTANCE_ID ||
      `${hostname()
        .replace(/[^A-Za-z0-9_.-]/g, '_')
        .slice(0, 57)}-${suffix}`;
    // The owner id is unique per process: two replicas configured with the same instance id must not share a lease.
    const owner = `${instance}-${process.pid}-${suffix}`;
    this.instanceLease = new InstanceLease({
      redis: this.redis,
      prefix: config.FW_REDIS_PREFIX,
      id: instance,
      owner,
      logger: logger.child({ component: 'instance' }),
    });
    this.readiness.add({
      name: 'instance',
      check: () => {
        const other = this.instanceLease.conflict();
        return other ? `FW_INSTANCE_ID "${instance}" is also held by ${other}: ingested events may be lost` : null;
      },
    });
    this.silences = new RedisSilenceStore({
      redis: this.redis,
      prefix: config.FW_REDIS_PREFIX,
      clock: () => this.clock.now(),
      logger: logger.child({ component: 'silences' }),
    });
    if (config.FW_PROBES_DIR) {
      this.journeys = new JourneyStore({
        dir: config.FW_PROBES_DIR,
        logger: logger.child({ component: 'probes' }),
        // Checked against the rule files loaded now: a journey's funnel, step events and receivers must exist.
        loadOptions: () => {
          const rs = this.rules.current;
          return {
            environment: config.FW_PROBES_ENVIRONMENT,
            ...(rs ? { funnels: rs.funnels, receivers: rs.receivers.map((r) => r.name) } : {}),
          };
        },
      });
    }
    const probeRuns = new RedisProbeRuns(this.redis, config.FW_REDIS_PREFIX);
    // Window, alert and deploy stores, lease, evaluator and ingest handler: built as replay and backtest build them.
    this.core = buildCore({
      redis: this.redis,
      prefix: config.FW_REDIS_PREFIX,
      settings: config,
      clock: this.clock,
      logger,
      metrics: this.metrics,
      rules: () => {
        const rs = this.rules.current;
        if (!rs) throw new Error('no valid rule set loaded');
        return rs;
      },
      funnels: () => this.rules.current?.funnels ?? [],
      notifier: opts.notifier ?? new LogNotifier({ logger: logger.child({ component: 'notify' }) }),
      silences: this.silences,
      onRedisStateLost: (what, detail) => this.stateWatch.lost(what, detail),
      ...(this.journeys ? { probes: new ProbeAlerts(() => this.journeys?.current ?? null, probeRuns) } : {}),
      lease: {
        owner,
        ttlMs: config.FW_LEASE_TTL_MS,
        onChange: (leader, token) => {
          this.metrics.evalLeader.set(leader ? 1 : 0);
          logger.info(
            { leader, token },
            leader ? 'evaluation lease acquired: this replica evaluates' : 'evaluation lease not held: standby',
          );
        },
      },
    });
    this.windows = this.core.windows;
    this.lease = this.core.lease;
    this.alerts = this.core.alerts;
    this.deploys = this.core.deploys;
    this.evaluator = this.core.evaluator;
    if (config.FW_EVAL_SHARDING === 'funnel') {
      const sharding = new ShardedEvaluation({
        redis: this.redis,
        prefix: config.FW_REDIS_PREFIX,
        owner,
        ttlMs: config.FW_LEASE_TTL_MS,
        clock: this.clock,
        logger: logger.child({ component: 'evaluator' }),
        metrics: this.metrics,
        rules: () => this.rules.current,
        alerts: this.alerts,
        groups: this.core.groups,
        completenessStore: new RedisCompletenessStore({
          redis: this.redis,
          prefix: config.FW_REDIS_PREFIX,
          sharded: true,
        }),
        evaluator: this.core.evaluatorBase,
      });
      this.sharding = sharding;
      this.readiness.add({
        name: 'evaluation-shards',
        check: () => null,
        detail: () => sharding.status(),
      });
    }
    this.parseOptions = this.core.parse;
    if (config.FW_PAGERDUTY_CHANGE_KEY_FILE) {
      this.changeEvents = new PagerDutyChangeEvents({
        routingKey: { file: config.FW_PAGERDUTY_CHANGE_KEY_FILE },
        baseUrl: config.FW_PAGERDUTY_URL,
        logger,
        timeoutMs: config.FW_DELIVERY_TIMEOUT_MS,
      });
    }
    this.receivers = new ReceiverRegistry(
      opts.receiverFactory ??
        receiverFactory({
          logger: logger.child({ component: 'notify' }),
          clock: this.clock,
          slackApiUrl: config.FW_SLACK_API_URL,
          pagerDutyUrl: config.FW_PAGERDUTY_URL,
          timeoutMs: config.FW_DELIVERY_TIMEOUT_MS,
          facts: new RedisReceiverFacts(this.redis, config.FW_REDIS_PREFIX),
        }),
      logger,
    );
    this.rules.onReload((o) => {
      if (o.ok && this.rules.current) this.checkReceivers(this.receivers.update(this.rules.current.receivers));
    });
    this.outbox = new DeliveryOutbox({
      redis: this.redis,
      prefix: config.FW_REDIS_PREFIX,
      consumer: owner,
      receivers: () => this.receivers.get(),
      clock: this.clock,
      logger: logger.child({ component: 'delivery' }),
      metrics: this.metrics,
      claimIdleMs: config.FW_DELIVERY_CLAIM_IDLE_MS,
      giveUpMs: config.FW_DELIVERY_GIVE_UP_MS,
      backoffBaseMs: config.FW_DELIVERY_BACKOFF_MS,
      backoffMaxMs: config.FW_DELIVERY_BACKOFF_MAX_MS,
      onPermanentFailure: (receiver, code, reason) => {
        this.receiverFailures.set(receiver, `${code}: ${reason}`);
        this.metrics.receiverUp.set({ receiver }, 0);
      },
      onDelivered: (receiver) => {
        this.receiverFailures.delete(receiver);
        this.metrics.receiverUp.set({ receiver }, 1);
      },
      onStateLost: (what, detail) => this.stateWatch.lost(what, detail),
    });
    this.stateWatch.onLost(() => {
      this.windows.writer.invalidate();
      this.evaluator.invalidate();
      this.sharding?.invalidate();
      this.outbox.invalidate();
    });
    // A reconnect may be to a Redis that came back empty: look at once, not only at the next tick.
    this.redis.on('ready', () => {
      if (!this.stopped) this.stateWatch.check().catch(() => undefined);
    });
    this.readiness.add({
      name: 'step-filters',
      check: () => null,
      // A step that counts nothing leaves its rules insufficient forever: loud, but the data still flows.
      warning: () => this.core.unmatched.warning(this.clock.now()),
    });
    this.readiness.add({
      name: 'delivery',
      check: () => null,
      // A receiver that refuses (bad token, unknown channel) is a missing page: loud, but the replica still serves.
      warning: () =>
        this.receiverFailures.size === 0
          ? null
          : [...this.receiverFailures].map(([r, why]) => `receiver ${r} failed permanently: ${why}`).join('; '),
    });
    // First on every tick: a Redis that lost its data (FLUSHALL, failover) without a reconnect is noticed here.
    this.ticker.add({
      name: 'redis-state',
      run: async () => {
        if (this.redis.status === 'ready') await this.stateWatch.check();
      },
    });
    // Feed liveness on the metrics: the ages grow on every tick when events stop (ingest/feed-liveness.ts).
    this.ticker.add({
      name: 'feed-liveness',
      run: async (now) => {
        const funnels = this.rules.current?.funnels ?? [];
        this.core.liveness.updateLastEvent(funnels, now);
        if (this.redis.status === 'ready') await this.core.liveness.updateWatermarks(funnels, now);
      },
    });
    // Move sealed buckets from the per-partition hot area into funnel history. Every replica may run it: the store
    // makes it idempotent, so concurrent runs move each bucket once.
    this.ticker.add({
      name: 'compact',
      run: async () => {
        if (this.redis.status !== 'ready') return;
        for (const funnel of this.rules.current?.funnels ?? []) {
          const r = await this.windows.compact(funnel);
          if (r.buckets) this.metrics.compactedBuckets.inc({ funnel: funnel.name }, r.buckets);
        }
      },
    });
    // Evaluate after compaction, on the lease holder only (the evaluator returns at once on the others); sharded,
    // each replica evaluates the shards it holds.
    this.ticker.add({
      name: 'evaluate',
      run: async (now) => {
        if (this.redis.status !== 'ready' || !this.rules.current) return;
        if (this.sharding) await this.sharding.tick(now);
        else await this.evaluator.tick(now);
      },
    });
    // Undecided canary comparisons someone is asking about: decided and announced in the minute the data allow.
    this.ticker.add({
      name: 'gates',
      run: async () => {
        if (this.redis.status === 'ready' && this.rules.current?.gates.length) await this.gates.revisit();
      },
    });
    this.readiness.add({
      name: 'rules',
      check: () => {
        const st = this.rules.status();
        if (!st.ready) return `no valid rule set loaded: ${st.errors.slice(0, 5).join('; ') || 'not loaded yet'}`;
        return null;
      },
      // A valid set is active but a later edit was invalid: not a reason to take the replica out of service, but
      // the operator must see it (and it is in the log and fw_rule_problems).
      warning: () => {
        const st = this.rules.status();
        return st.ready && st.errors.length
          ? `last reload rejected, rules ${st.version} still active: ${st.errors.slice(0, 5).join('; ')}`
          : null;
      },
    });
    if (config.FW_KAFKA_BROKERS.length > 0) {
      this.readiness.add({
        name: 'kafka',
        check: () => {
          const s = this.source?.status();
          if (!s) return 'consumer not started';
          return s.connected ? null : `consumer not in its group: ${s.reason ?? 'unknown'}`;
        },
      });
      // A partition whose offsets went backwards waits for an operator (ingest/offset-regressions.ts): not ready.
      this.readiness.add({
        name: 'kafka-offsets',
        check: () => this.core.regressions.reason(this.source?.status().assigned),
      });
    }
    let target: IngestTarget;
    if (config.FW_KAFKA_BROKERS.length > 0) {
      // One client for the producer and both consumers (events, deploy markers).
      this.kafka = createKafkaClient({ brokers: config.FW_KAFKA_BROKERS, clientId: config.FW_KAFKA_CLIENT_ID, logger });
      this.producer = this.kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: true,
        retry: { ...KAFKA_PRODUCER_RETRY },
      });
      target = new KafkaIngestTarget(this.producer, config.FW_KAFKA_TOPICS[0]!);
    } else {
      // No Kafka: HTTP events go straight into the windows through the same handler the consumer uses. Nothing
      // invalid reaches it (the route rejects those to the caller), so its dead-letter sink only logs.
      const logOnly: DeadLetterSink = {
        send: async (items) =>
          logger.error({ count: items.length, reason: items[0]?.reason }, 'unexpected rejects in direct ingest'),
      };
      target = new DirectIngestTarget(
        this.core.ingestHandler(logOnly),
        this.windows,
        () => this.rules.current?.funnels ?? [],
        `http-${instance}`,
      );
    }
    if (this.journeys) {
      this.probeRunner = new ProbeRunner({
        sink: new IngestTargetSink(target, (json) => parseEvent(json, { ...this.parseOptions, now: this.clock.now() })),
        logger: logger.child({ component: 'probes' }),
        metrics: this.metrics,
        clock: this.clock,
        record: (run) => probeRuns.record(run),
        // One replica runs the journeys: the evaluation lease holder.
        shouldRun: () => this.lease.isLeader(),
        ...(config.FW_PROBES_LOCATION ? { location: config.FW_PROBES_LOCATION } : {}),
      });
      const journeys = this.journeys;
      const runner = this.probeRunner;
      journeys.onReload((r) => r.ok && r.changed && runner.use(r.set));
      // New rule files may make a rejected journey valid (its funnel now exists), or a valid one invalid.
      this.rules.onReload((o) => {
        if (o.ok && o.changed) void journeys.reload();
      });
    }
    this.gates = new GateService({
      rules: () => this.rules.current ?? undefined,
      windows: this.windows,
      store: new GateStore({ redis: this.redis, prefix: config.FW_REDIS_PREFIX }),
      clock: this.clock,
      completeness: new RedisCompletenessStore({ redis: this.redis, prefix: config.FW_REDIS_PREFIX }),
      deploys: this.deploys,
      metrics: this.metrics,
      logger: logger.child({ component: 'gates' }),
    });
    /** Why a rule is quiet (or not): the explain API and the dashboard's overview read the same report. */
    const explain = async (rule: string, segment?: SegmentRef) => {
      const look = await this.evaluator.explainLook(rule, this.clock.now(), segment);
      if (!look) return undefined;
      const silences = await this.silences.list();
      const unmatched = this.core.unmatched.reports(look.now);
      return explainRule({ look, silences, unmatched, ...(segment ? { segment } : {}) });
    };
    this.http = buildHttpServer({
      logger,
      metrics: this.metrics,
      readiness: this.readiness,
      version: VERSION,
      bodyLimitBytes: config.FW_INGEST_MAX_BYTES,
      routes: [
        httpIngestRoutes({
          target,
          token: config.FW_INGEST_TOKEN,
          parse: this.parseOptions,
          clock: this.clock,
          metrics: this.metrics,
        }),
        silenceRoutes({
          store: this.silences,
          token: config.FW_INGEST_TOKEN,
          clock: this.clock,
          logger: logger.child({ component: 'silences' }),
        }),
        alertRoutes({
          alerts: this.alerts,
          groups: this.core.groups,
          rules: () => this.rules.current ?? undefined,
          token: config.FW_INGEST_TOKEN,
        }),
        deployRoutes({
          store: this.deploys,
          token: config.FW_INGEST_TOKEN,
          clock: this.clock,
          logger,
          onDeploy: (d) => this.onDeploy(d),
        }),
        gateRoutes({ gates: this.gates, token: config.FW_INGEST_TOKEN, clock: this.clock, logger }),
        explainRoutes({
          rules: () => this.rules.current ?? undefined,
          token: config.FW_INGEST_TOKEN,
          explain,
        }),
        dashboardRoutes({
          token: config.FW_INGEST_TOKEN,
          public: config.FW_DASHBOARD_PUBLIC,
          cookieSecure: config.FW_DASHBOARD_COOKIE_SECURE,
          clock: this.clock,
          rules: () => this.rules.current ?? undefined,
          windows: this.windows,
          alerts: this.alerts,
          deploys: this.deploys,
          silences: this.silences,
          metrics: this.metrics,
          explain: (rule) => explain(rule),
          unmatched: (now) => this.core.unmatched.reports(now),
          backtest: (req) =>
            backtestPreview(
              {
                redisUrl: config.FW_REDIS_URL,
                redisCluster: config.FW_REDIS_CLUSTER,
                prefix: config.FW_REDIS_PREFIX,
                rulesDir: config.FW_RULES_DIR,
                environment: config.FW_ENVIRONMENT,
                logger: logger.child({ component: 'backtest' }),
              },
              req,
            ),
        }),
      ],
    });
  }

  /** A new deploy marker (API or topic): forwarded to PagerDuty as a change event when configured. */
  private onDeploy(d: Deploy): void {
    void this.changeEvents?.send(d).catch(() => undefined);
  }

  /** Start-up checks of new or changed receivers (Slack auth.test, readable secrets), reported but not fatal. */
  private checkReceivers(fresh: readonly { name: string; check?: () => Promise<string[]> }[]): void {
    for (const r of fresh) {
      r.check?.().then(
        (problems) => {
          for (const p of problems)
            this.log.warn(
              { receiver: r.name, problem: p },
              'receiver check: deliveries to it will fail until this is fixed',
            );
          if (problems.length > 0) this.receiverFailures.set(r.name, `check: ${problems.join('; ')}`);
        },
        (err: unknown) => this.log.warn({ receiver: r.name, err: errorMessage(err) }, 'receiver check could not run'),
      );
    }
  }

  /** Address the HTTP server listens on (after start). */
  get httpUrl(): string {
    const a = this.http.server.address();
    if (!a || typeof a === 'string') throw new Error('HTTP server not listening');
    return `http://127.0.0.1:${a.port}`;
  }

  async start(): Promise<void> {
    const { config } = this.opts;
    await this.rules.reload();
    this.rules.watch();
    // Redis may be down at start: the daemon still starts (readiness says why) and ioredis keeps reconnecting.
    await this.redis
      .connect()
      .catch((err) => this.log.warn({ err: errorMessage(err) }, 'redis not reachable at start; will keep trying'));
    // Before anything is served or consumed: a second daemon with an id in use stops here.
    await this.instanceLease.start();

    // The producer before HTTP: ingest requests forward through it.
    await this.producer?.connect();
    await this.http.listen({ host: config.FW_HTTP_HOST, port: config.FW_HTTP_PORT });
    this.log.info(
      {
        url: `http://${config.FW_HTTP_HOST}:${(this.http.server.address() as { port: number }).port}`,
        version: VERSION,
      },
      'http server listening',
    );
    if (config.FW_AUTH === 'none') this.log.warn({ host: config.FW_HTTP_HOST }, AUTH_NONE_WARNING);
    else if (!config.FW_INGEST_TOKEN)
      this.log.info({ host: config.FW_HTTP_HOST }, 'no FW_INGEST_TOKEN: the API is open to processes on this host');

    if (this.kafka && this.producer) {
      this.source = new KafkaSource({
        kafka: this.kafka,
        topics: config.FW_KAFKA_TOPICS,
        groupId: config.FW_KAFKA_GROUP,
        fromBeginning: config.FW_KAFKA_FROM_BEGINNING,
        sessionTimeoutMs: config.FW_KAFKA_SESSION_TIMEOUT_MS,
        maxWaitTimeMs: config.FW_KAFKA_MAX_WAIT_MS,
        logger: this.log,
        metrics: this.metrics,
      });
      await this.source.start(
        this.core.ingestHandler(new KafkaDeadLetterSink(this.producer, config.FW_KAFKA_DLQ_TOPIC)),
      );
      this.log.info({ topics: config.FW_KAFKA_TOPICS, group: config.FW_KAFKA_GROUP }, 'kafka consumer started');
    }
    if (this.kafka && config.FW_KAFKA_DEPLOY_TOPIC) {
      // The same managed consumer as the events, in a group of its own, with the deploy-marker handler plugged in.
      this.deploySource = new KafkaSource({
        kafka: this.kafka,
        topics: [config.FW_KAFKA_DEPLOY_TOPIC],
        groupId: `${config.FW_KAFKA_GROUP}-deploys`,
        fromBeginning: false,
        sessionTimeoutMs: config.FW_KAFKA_SESSION_TIMEOUT_MS,
        maxWaitTimeMs: config.FW_KAFKA_MAX_WAIT_MS,
        partitionsConcurrency: 1,
        logger: this.log,
        component: 'deploy-consumer',
      });
      await this.deploySource.start(
        createDeployMarkerHandler({
          store: this.deploys,
          logger: this.log,
          clock: this.clock,
          onDeploy: (d) => this.onDeploy(d),
          onRejected: (reason) => this.metrics.deploysRejected.inc({ reason: deployRejectLabel(reason) }),
        }),
      );
    }
    // Journeys before the first tick: without them, the tick would retire their alerts as rules removed.
    if (this.journeys && this.probeRunner) {
      await this.journeys.reload();
      this.journeys.watch();
      this.probeRunner.start();
    }
    if (this.sharding) this.sharding.start();
    else this.lease.start();
    this.ticker.start();
    // Every replica delivers, leader or not: a standby takes over the jobs of a leader that died mid-delivery.
    this.outbox.start();
  }

  /** Reverse of start; safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // A step still running after 5 s says so (and again when it ends), so a stop that hangs names the part that hangs.
    const step = async (what: string, fn: () => Promise<unknown> | unknown) => {
      const t0 = performance.now();
      let slow = false;
      const timer = setTimeout(() => {
        slow = true;
        this.log.warn({ step: what }, `still stopping ${what} after 5 s`);
      }, 5_000);
      timer.unref();
      try {
        await fn();
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, `error while stopping ${what}`);
      } finally {
        clearTimeout(timer);
        if (slow)
          this.log.warn(
            { step: what, ms: Math.round(performance.now() - t0) },
            `stopping ${what} took ${Math.round(performance.now() - t0)} ms`,
          );
      }
    };
    await step('minute ticker', () => this.ticker.stop());
    // Released right after the last tick, so another replica takes over evaluation at once instead of after the TTL.
    await step('evaluation lease', () => (this.sharding ? this.sharding.stop() : this.lease.stop()));
    await step('delivery worker', () => this.outbox.stop());
    await step('receivers', () => this.receivers.closeAll());
    // Before the consumer and producer: a run in flight still delivers its events and result.
    await step('probe runner', () => Promise.all([this.journeys?.close(), this.probeRunner?.stop()]));
    await step('kafka consumer', () => this.source?.stop());
    await step('deploy consumer', () => this.deploySource?.stop());
    await step('kafka producer', () => this.producer?.disconnect());
    await step('http server', () => this.http.close());
    await step('instance id lease', () => this.instanceLease.stop());
    await step('rule watcher', () => this.rules.close());
    await step('redis', () => (this.redis.status === 'ready' ? this.redis.quit() : this.redis.disconnect()));
  }

  /** SIGHUP: re-read the rules now. */
  async reloadRules(): Promise<void> {
    await this.rules.reloadOnSignal();
  }
}

/**
 * `funnelwatch run`: start, wait for SIGTERM/SIGINT, stop within the shutdown timeout. Returns the exit code.
 * The signal handlers are installed before starting, so a signal that arrives while the daemon is still joining
 * its consumer group also ends in a clean stop; the shutdown deadline counts from the signal.
 */
export async function runDaemonUntilSignal(config: Config, logger: Logger): Promise<number> {
  const daemon = new Daemon({ config, logger });
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    const early = takeEarlySignal();
    if (early) resolve(early);
  });
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading rules');
    daemon.reloadRules().catch((err) => logger.error({ err: errorMessage(err) }, 'rule reload failed'));
  });
  signalled.then((signal) => {
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ timeoutMs: config.FW_SHUTDOWN_TIMEOUT_MS }, 'graceful shutdown took too long; exiting');
      process.exit(1);
    }, config.FW_SHUTDOWN_TIMEOUT_MS).unref();
  });
  try {
    await daemon.start();
  } catch (err) {
    logger.fatal({ err: errorMessage(err) }, 'could not start');
    await daemon.stop();
    return 1;
  }
  logger.info('funnelwatch running');
  await signalled;
  await daemon.stop();
  logger.info('stopped');
  return 0;
}
