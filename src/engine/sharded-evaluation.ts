/**
 * Evaluation spread over replicas (FW_EVAL_SHARDING=funnel): each minute tick beats the shard coordinator
 * (shards.ts: heartbeat, take or renew the assigned shards, release the others) and runs one Evaluator per shard
 * this replica holds, each fenced by that shard's own lease token.
 *
 * Each shard's evaluator sees only its part (shard-plan.ts): the rules of its funnels, the alert states and
 * incident groups those own, its completeness curves (saved field by field, so shards never overwrite each other).
 * The rule set is read once per tick and the states are read again whenever it changed, so a state belongs to
 * exactly one evaluator at a time: a removed rule's state is retired by the `~global` shard alone.
 *
 * A shard that changes hands loses nothing: the new holder has a new token, so its evaluator (new or not) reads the
 * committed states and groups first and continues them (an open incident is not triggered again).
 *
 * Replicas still running unsharded hold the single evaluation lease: while it is held, sharded replicas stand by,
 * so a rolling switch between the two modes never evaluates a funnel twice.
 */
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { alertsKeys } from '../redis/alert-keys.js';
import type { RedisLike } from '../redis/client.js';
import type { Clock } from '../core/clock.js';
import type { RuleSet } from '../rules/rule-set.js';
import type { GroupState } from '../notify/grouping.js';
import type { AlertState } from '../model/alert-state.js';
import type { RedisAlertStore } from './alert-store.js';
import type { CompletenessPersistence } from './completeness-store.js';
import { Evaluator, type EvaluatorOptions, type TickReport } from './evaluator.js';
import { GLOBAL_SHARD, groupShard, shardPlan, shardRuleSet, stateShard, type ShardPlan } from './shard-plan.js';
import { ShardCoordinator } from './shards.js';

export interface ShardedEvaluationOptions {
  redis: RedisLike;
  prefix: string;
  /** This replica's member name (unique per live process). */
  owner: string;
  /** Heartbeat and shard lease ttl, ms (FW_LEASE_TTL_MS). */
  ttlMs: number;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
  rules: () => RuleSet | null | undefined;
  alerts: Pick<RedisAlertStore, 'load' | 'commit'>;
  groups?: { load(): Promise<Map<string, GroupState>> };
  /** The curve store of the shards (RedisCompletenessStore with `sharded`). */
  completenessStore?: CompletenessPersistence;
  /** Everything else an evaluator needs (store, notifier, silences, deploys, settings), as the daemon builds it. */
  evaluator: Omit<EvaluatorOptions, 'rules' | 'alerts' | 'lease' | 'groups' | 'completenessStore' | 'completeness'>;
}

/** What one shard's pass did this tick. */
export interface ShardTickReport {
  shard: string;
  token: number | undefined;
  report: TickReport;
}

interface ShardRun {
  evaluator: Evaluator;
  /** The rule set version its states were filtered by. */
  version: string;
}

export class ShardedEvaluation {
  readonly coordinator: ShardCoordinator;
  private readonly runs = new Map<string, ShardRun>();
  /** The rule set and plan of the tick in progress: every shard of one tick sees the same ones. */
  private ruleSet: RuleSet | undefined;
  private plan: ShardPlan | undefined;
  private planVersion = '';
  private standbyLogged = false;
  private reportedMerges = '';

  constructor(private readonly o: ShardedEvaluationOptions) {
    this.coordinator = new ShardCoordinator({
      redis: o.redis,
      prefix: o.prefix,
      owner: o.owner,
      ttlMs: o.ttlMs,
      clock: o.clock,
      logger: o.logger,
      shards: () => {
        const rs = this.o.rules();
        return rs ? this.planFor(rs).shards : [];
      },
      onChange: (owned) => o.metrics?.evalShardsOwned.set(owned.size),
    });
  }

  /** The shard plan of a rule set (cached per version); logs each merge of funnels once. */
  planFor(rs: RuleSet): ShardPlan {
    if (this.plan && this.planVersion === rs.version) return this.plan;
    this.plan = shardPlan(rs);
    this.planVersion = rs.version;
    const merges = JSON.stringify(this.plan.merged);
    if (this.plan.merged.length > 0 && merges !== this.reportedMerges) {
      for (const m of this.plan.merged)
        this.o.logger.info(
          { shard: m.shard, receivers: m.receivers },
          'evaluation shards: these funnels share one shard, because these receivers group incidents across ' +
            'funnels (their group_by leaves out funnel)',
        );
    }
    this.reportedMerges = merges;
    return this.plan;
  }

  start(): void {
    this.coordinator.start();
  }

  /** Releases every shard (another replica takes them at its next beat) and leaves the members. */
  async stop(): Promise<void> {
    await this.coordinator.stop();
  }

  /** This replica's member name. */
  get owner(): string {
    return this.o.owner;
  }

  /** Shards held now and the live members seen, for /readyz. */
  status(): { owned: string[]; members: readonly string[] } {
    return { owned: [...this.coordinator.owned().keys()].sort(), members: this.coordinator.members() };
  }

  /** Redis lost its data: every shard's evaluator forgets what it cached. */
  invalidate(): void {
    for (const r of this.runs.values()) r.evaluator.invalidate();
  }

  /** One minute tick: beat, then one pass per held shard (one shard failing does not stop the others). */
  async tick(now: number): Promise<ShardTickReport[]> {
    const rs = this.o.rules();
    if (!rs) return [];
    this.ruleSet = rs;
    this.planFor(rs);
    await this.coordinator.beat();
    this.o.metrics?.evalShardMembers.set(this.coordinator.members().length);
    const owned = this.coordinator.owned();
    for (const shard of [...this.runs.keys()]) if (!owned.has(shard)) this.runs.delete(shard);
    if (owned.size === 0) return [];
    if (await this.unshardedLeaderActive()) return [];
    const out: ShardTickReport[] = [];
    let failure: unknown;
    for (const shard of [...owned.keys()].sort()) {
      const run = this.runFor(shard);
      // A changed rule set may move states between shards; the global shard reads every tick, since a replica
      // still on the old rules may write a state the new rules no longer have.
      if (run.version !== rs.version || shard === GLOBAL_SHARD) {
        run.evaluator.reloadStates();
        run.version = rs.version;
      }
      try {
        const report = await run.evaluator.tick(now);
        const token = owned.get(shard);
        if (report.outcome === 'fenced' && token !== undefined) this.coordinator.markLost(shard, token);
        if (report.outcome === 'evaluated')
          for (const f of report.funnels) this.o.metrics?.evalFunnelLooks.inc({ funnel: f.funnel });
        out.push({ shard, token, report });
      } catch (err) {
        this.o.logger.warn({ shard, err: errorMessage(err) }, 'evaluation of a shard failed; retried next tick');
        failure ??= err;
      }
    }
    this.exportStates();
    if (failure !== undefined) throw failure;
    return out;
  }

  /** fw_alerts (by status) over every shard held here: each shard's evaluator sets it for its own states only. */
  private exportStates(): void {
    const m = this.o.metrics;
    if (!m) return;
    const by: Record<string, number> = { inactive: 0, insufficient: 0, pending: 0, firing: 0, resolved: 0 };
    for (const r of this.runs.values())
      for (const st of r.evaluator.currentStates().values()) by[st.status] = (by[st.status] ?? 0) + 1;
    for (const [status, n] of Object.entries(by)) m.alertsByStatus.set({ status }, n);
  }

  /** A replica running with FW_EVAL_SHARDING=off holds the single lease: it evaluates everything, we stand by. */
  private async unshardedLeaderActive(): Promise<boolean> {
    const holder = await this.o.redis.get(alertsKeys(this.o.prefix).lease);
    if (holder && !this.standbyLogged)
      this.o.logger.warn(
        { holder },
        'a replica without sharded evaluation holds the evaluation lease: this replica does not evaluate until ' +
          'it is gone (set the same FW_EVAL_SHARDING on every replica)',
      );
    this.standbyLogged = holder !== null;
    return holder !== null;
  }

  private runFor(shard: string): ShardRun {
    let run = this.runs.get(shard);
    if (run) return run;
    const ownsState = (s: AlertState) => stateShard(this.planFor(this.ruleSet!), s) === shard;
    const ownsGroup = (g: GroupState) => groupShard(this.planFor(this.ruleSet!), g) === shard;
    const groups = this.o.groups;
    const evaluator = new Evaluator({
      ...this.o.evaluator,
      rules: () => shardRuleSet(this.planFor(this.ruleSet!), this.ruleSet!, shard),
      lease: this.coordinator.view(shard),
      alerts: {
        load: async () => new Map([...(await this.o.alerts.load())].filter(([, s]) => ownsState(s))),
        commit: (token, states, transitions, opts) =>
          this.o.alerts.commit(token, states, transitions, { ...opts, shard }),
      },
      ...(groups
        ? { groups: { load: async () => new Map([...(await groups.load())].filter(([, g]) => ownsGroup(g))) } }
        : {}),
      ...(this.o.completenessStore ? { completenessStore: this.o.completenessStore } : {}),
      logger: this.o.logger.child({ shard }),
    });
    run = { evaluator, version: '' };
    this.runs.set(shard, run);
    return run;
  }
}
