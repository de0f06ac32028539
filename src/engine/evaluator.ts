/**
 * The evaluator: once a minute, on the replica holding the lease (lease.ts), every rule of every funnel is looked
 * at up to the funnel's data watermark, the alert state machine (alert-state.ts) steps, the new states are
 * committed to Redis fenced by the lease token (alert-store.ts), and every transition goes to the notifier.
 *
 * Why only up to the watermark: the newest bucket the data has completed is the newest one a look can trust;
 * evaluating up to the wall clock would read missing completions as a drop whenever ingestion runs behind. The
 * watermark is the newest event time applied to the funnel (over its partitions); the look covers the buckets that
 * end at or before it. A funnel whose watermark did not move since the last look is not looked at again (nothing
 * new), but its data_stale guard is, since that is exactly what a stopped watermark may mean.
 *
 * Pages leave through the delivery outbox: the planner (notify/plan.ts) groups the firing alerts into incident
 * groups per receiver and turns them into delivery jobs (trigger after group_wait, update, reminder, resolve;
 * inhibition and silences applied), and the jobs and groups are committed with the states in one fenced step
 * (alert-store.ts), so a page is queued exactly when its state is
 * committed; the workers of every replica deliver them (notify/outbox.ts). The notifier port then sees every
 * committed transition (the log receiver records them); its failure is logged and counted, nothing is undone.
 */
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { FunnelDef } from '../funnels/funnel.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { AlertRuleDef } from '../rules/rule.js';
import type { RuleSet } from '../rules/rule-set.js';
import type { Notifier } from '../notify/notifier.js';
import type { OutboxWrite } from '../notify/delivery-log.js';
import { noteMessage, planDeliveries, type GroupWrite, type Plan } from '../notify/plan.js';
import { receiverGrouping, type GroupState } from '../notify/grouping.js';
import type { DeliveryJob } from '../notify/receiver.js';
import type { Silence } from '../notify/silences.js';
import { BUILTIN_CONSOLE } from '../rules/receiver-def.js';
import type { WindowStore } from '../windows/window-store.js';
import { stepAlert, type Observation } from './alert-state.js';
import { alertKey, parseAlertKey } from '../model/alert-key.js';
import type { AlertState } from '../model/alert-state.js';
import type { Evidence } from '../model/evidence.js';
import type { AlertTransition } from '../model/alert-transition.js';
import { type CompletenessTracker, completenessKey, funnelCompletenessTracker } from './completeness.js';
import { evaluateRule } from '../detect/evaluate-rule.js';
import { drilldownFor } from '../detect/incident-drilldown.js';
import { recoveredSteps } from '../detect/scan-detector.js';
import { matureAgeBuckets, RuleMemory, type RuleLook, type SeriesResult } from '../detect/rule-look.js';
import { summarizeDrilldown } from './drilldown-summary.js';
import { rankDeploys } from '../deploys/correlate.js';
import type { Deploy } from '../deploys/deploy.js';
import { StoreFunnelSource, type FunnelNeeds, type FunnelSource } from './funnel-data.js';
import type { CompletenessState } from './completeness.js';
import type { CompletenessPersistence } from './completeness-store.js';
import { evaluateGuards, type GuardName, type GuardResults } from './guards.js';
import { segmentKey, sliceReader, type SegmentRef, type SeriesReader } from '../detect/series-reader.js';

export interface LeaseView {
  isLeader(): boolean;
  token(): number | undefined;
}

export interface AlertStatePort {
  load(): Promise<Map<string, AlertState>>;
  commit(
    token: number,
    states: AlertState[],
    transitions: AlertTransition[],
    opts?: { deleteKeys?: string[]; outbox?: readonly OutboxWrite[]; groups?: readonly GroupWrite[] },
  ): Promise<'ok' | 'fenced'>;
}

/** One probe alert series (a journey at one location) as looked at now: its rule and what its latest runs say. */
export interface ProbeLook {
  rule: AlertRuleDef;
  segment: SegmentRef;
  observation: Observation;
}

/** Probe alerts (probes/probe-alerts.ts): their rules, and a look at every (journey, location) with runs. */
export interface ProbeAlertPort {
  rules(): readonly AlertRuleDef[];
  look(now: number): Promise<ProbeLook[]>;
}

export interface EvaluatorOptions {
  /** A WindowStore (the daemon) or any FunnelSource (the detection benchmark's simulated stream). */
  store: WindowStore | FunnelSource;
  rules: () => RuleSet;
  alerts: AlertStatePort;
  lease: LeaseView;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
  /** Watermark silence beyond which a funnel with expected traffic is data_stale. */
  staleAfterMs: number;
  maxValuesPerDimension?: number;
  /** Completeness curves learned earlier (`completenessSnapshot()`), e.g. by the previous leader. */
  completeness?: Record<string, CompletenessState>;
  /** Where curves are kept for the next leader (loaded on becoming leader, saved every few ticks). */
  completenessStore?: CompletenessPersistence;
  /** Active silences (read once per tick); none when absent. */
  silences?: { active(now: number): Promise<Silence[]> };
  /** Re-announce a still-firing incident group this often (repeat_interval of receivers that set none; Slack
   *  thread reply); 0 = never. Default 4 h. */
  remindEveryMs?: number;
  /** The incident groups as committed (notify/group-store.ts), loaded on becoming leader; none stored when absent. */
  groups?: { load(): Promise<Map<string, GroupState>> };
  /** Deploy markers, to name the deploys near a new incident's onset; none when absent. */
  deploys?: { between(from: number, to: number): Promise<Deploy[]> };
  /** How far before the onset a deploy may be the cause. Default 2 h. */
  deployLookbackMs?: number;
  /** The environment this daemon watches: deploys to others rank lower (deploys/correlate.ts). Absent: all alike. */
  environment?: string;
  /** Canary-user alerts, stepped through the same state machine, silences and receivers; none when absent. */
  probes?: ProbeAlertPort;
}

export interface TickReport {
  outcome: 'evaluated' | 'standby' | 'fenced';
  /** States written to Redis this tick. */
  written?: number;
  funnels: { funnel: string; evalTo: number | null; guards: Record<GuardName, boolean>; skipped?: string }[];
  series: number;
  transitions: AlertTransition[];
  /** Delivery jobs committed this tick. */
  jobs?: DeliveryJob[];
  /** Per firing alert (alertKey), the receivers whose incident group holds it (not inhibited or silenced there). */
  placed?: Map<string, string[]>;
}

/** One rule as a tick would see it now (Evaluator.explainLook), for `explain`. */
export interface ExplainLook {
  rule: AlertRuleDef;
  funnel: FunnelDef;
  now: number;
  /** Newest event time applied to the funnel; undefined: no data yet. */
  watermark: number | undefined;
  evalTo: number | null;
  /** The alert states as committed. */
  states: ReadonlyMap<string, AlertState>;
  guards?: GuardResults;
  look?: RuleLook;
  series: { result: SeriesResult; condition: Observation['condition']; state?: AlertState }[];
}

const GUARD_RULES = { forMs: 0, resolveAfterMs: 2 * 60_000 };
/** A quiet state (inactive, unchanged) is written at most this often: 2,000 series need not rewrite every minute. */
const QUIET_WRITE_MS = 15 * 60_000;

/**
 * Whether a new state must reach Redis this tick. Always on a transition or a status change, and while pending or
 * firing (the evidence and the for/resolve countdowns are what a restarted or new leader continues from); quiet
 * states only every QUIET_WRITE_MS, which is all a restart needs from them.
 */
function worthWriting(
  prev: AlertState | undefined,
  next: AlertState,
  transition: boolean,
  now: number,
  lastWritten: number | undefined,
): boolean {
  if (!prev || transition || prev.status !== next.status) return true;
  if (next.status === 'pending' || next.status === 'firing' || next.okSince !== prev.okSince) return true;
  return lastWritten === undefined || now - lastWritten >= QUIET_WRITE_MS;
}

/**
 * The data time a firing alert's incident began: the change-point of its worst look (or the latest), else the start
 * of the window that showed the worst look. Null when the state records neither (an older state).
 */
export function incidentDataStart(s: AlertState): number | null {
  const onset = s.peak?.onset ?? s.evidence?.onset;
  if (typeof onset === 'number') return onset;
  const p = s.peak;
  return p && typeof p.evaluatedUpTo === 'number' && typeof p.windowMinutes === 'number'
    ? p.evaluatedUpTo - p.windowMinutes * 60_000
    : null;
}

/** For a transition's wording: the step a conversion rule counts from when that is not the funnel's entry step
 *  (its evidence volume then counts arrivals at that step), else undefined. */
export function countedFromStep(rule: AlertRuleDef, funnel: FunnelDef): string | undefined {
  if (rule.metric.kind !== 'cohort_conversion' && rule.metric.kind !== 'ratio_conversion') return undefined;
  const from = rule.metric.from;
  return funnel.steps.findIndex((s) => s.name === from) > 0 ? from : undefined;
}

export class Evaluator {
  private states = new Map<string, AlertState>();
  /** The incident groups as committed (notify/grouping.ts), by field. */
  private groups = new Map<string, GroupState>();
  private loadedFor: number | undefined;
  private readonly memories = new Map<string, RuleMemory>();
  private readonly source: FunnelSource;
  private readonly completeness = new Map<string, CompletenessTracker>();
  private readonly lastEvalTo = new Map<string, number>();
  /**
   * Bumped by `invalidate`. A loss noticed while a tick is in flight (the outbox sees NOGROUP at any moment) makes
   * that tick's work void: it read the lost data and would record the old watermark as looked at, so the alert
   * whose state was lost would never be judged again on the same data.
   */
  private generation = 0;
  private readonly lastVersion = new Map<string, string>();
  /** When each state was last committed (quiet states are written only now and then). */
  private readonly written = new Map<string, number>();
  private ruleSetVersion = '';
  /** The pass in progress (or the last one): the next caller's pass starts after it. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly o: EvaluatorOptions) {
    this.source = 'bucketCounts' in o.store ? new StoreFunnelSource(o.store) : o.store;
    this.seed = o.completeness ?? {};
  }

  private seed: Record<string, CompletenessState>;
  private ticksSinceSave = 0;

  /** The learned completeness curves, to persist or to seed another evaluator with. */
  completenessSnapshot(): Record<string, CompletenessState> {
    const out: Record<string, CompletenessState> = {};
    for (const [k, t] of this.completeness) out[k] = t.toJSON();
    return out;
  }

  /**
   * One evaluation pass; the minute ticker calls it. Standby replicas return at once. Passes run one at a time: a
   * caller that asks while one is in progress (a reload, a test, an operator) waits for it and then runs its own,
   * because two passes over the same in-memory states would each see the same previous state and each trigger.
   */
  tick(now?: number): Promise<TickReport> {
    const run = this.queue.then(() => this.pass(now ?? this.o.clock.now()));
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async pass(now: number): Promise<TickReport> {
    const m = this.o.metrics;
    const token = this.o.lease.token();
    if (!this.o.lease.isLeader() || token === undefined) {
      m?.evalTicks.inc({ outcome: 'standby' });
      this.loadedFor = undefined; // another replica may change the states meanwhile: reload when leader again
      return { outcome: 'standby', funnels: [], series: 0, transitions: [] };
    }
    const end = m?.evalSeconds.startTimer();
    const generation = this.generation;
    try {
      if (this.loadedFor !== token) {
        this.states = await this.o.alerts.load();
        this.groups = this.o.groups ? await this.o.groups.load() : new Map();
        this.written.clear();
        if (this.o.completenessStore && this.completeness.size === 0)
          this.seed = { ...(await this.o.completenessStore.load()), ...this.seed };
        this.loadedFor = token;
      }
      const ruleSet = this.o.rules();
      this.ruleSetVersion = ruleSet.version;
      const changed = new Map<string, AlertState>();
      const transitions: AlertTransition[] = [];
      const report: TickReport = { outcome: 'evaluated', funnels: [], series: 0, transitions };
      for (const funnel of ruleSet.funnels) {
        const rules = ruleSet.rules.filter((r) => r.funnel === funnel.name);
        if (rules.length === 0) continue;
        report.funnels.push(await this.evaluateFunnel(funnel, rules, now, changed, transitions, report));
      }
      if (this.o.probes) await this.evaluateProbes(this.o.probes, ruleSet, now, changed, transitions);
      const deleteKeys = this.retireRemovedRules(ruleSet, now, changed, transitions);
      await this.attachDeploys(ruleSet, changed, transitions);
      const deliveries = await this.planDeliveries(ruleSet, now, changed, transitions, deleteKeys);
      report.jobs = deliveries.jobs;
      report.placed = deliveries.placed;
      report.written = changed.size;
      if (generation !== this.generation) {
        // Redis lost its data during this tick: commit nothing, and look at everything again next tick.
        this.invalidate();
        m?.evalTicks.inc({ outcome: 'evaluated' });
        return { ...report, transitions: [], jobs: [], written: 0 };
      }
      if (changed.size > 0 || deleteKeys.length > 0 || deliveries.groupWrites.length > 0) {
        const res = await this.o.alerts.commit(token, [...changed.values()], transitions, {
          deleteKeys,
          outbox: deliveries.outbox,
          groups: deliveries.groupWrites,
        });
        if (res === 'fenced') {
          // Another replica holds the lease now (or Redis lost it with its data): what this tick computed is void,
          // nothing was written, so nothing it looked at counts as looked at.
          this.loadedFor = undefined;
          this.lastEvalTo.clear();
          m?.evalTicks.inc({ outcome: 'fenced' });
          this.o.logger.warn(
            { token },
            'evaluation fenced: the lease moved to another replica during the tick; nothing written',
          );
          return { ...report, outcome: 'fenced', transitions: [], jobs: [] };
        }
        for (const [k, s] of changed) {
          this.states.set(k, s);
          this.written.set(k, now);
        }
        for (const k of deleteKeys) this.states.delete(k);
        this.groups = deliveries.groups;
      }
      await this.notify(transitions);
      this.exportStates();
      if (this.o.completenessStore && ++this.ticksSinceSave >= 10) {
        this.ticksSinceSave = 0;
        await this.o.completenessStore
          .save(this.completenessSnapshot())
          .catch((err: unknown) =>
            this.o.logger.warn({ err: errorMessage(err) }, 'could not save completeness curves; will retry'),
          );
      }
      m?.evalTicks.inc({ outcome: 'evaluated' });
      return report;
    } catch (err) {
      m?.evalTicks.inc({ outcome: 'failed' });
      this.loadedFor = undefined; // the in-memory states may be ahead of Redis now
      this.lastEvalTo.clear(); // and what this tick looked at was not committed: look again
      throw err;
    } finally {
      end?.();
    }
  }

  /**
   * Redis lost its data (redis/state-loss.ts): the alert states and the cached history held here are no longer
   * what Redis has. Both are read again at the next tick, so an alert whose state was lost is judged afresh.
   */
  invalidate(): void {
    this.generation++;
    this.loadedFor = undefined;
    this.written.clear();
    // The same watermark as before the loss must be looked at again: the data under it is another now.
    this.lastEvalTo.clear();
    this.memories.clear();
    this.source.invalidate?.();
  }

  /**
   * Sharded evaluation (engine/sharded-evaluation.ts): read the alert states and incident groups again at the next
   * pass, because the rule set changed and with it which states this shard owns. Nothing else is dropped.
   */
  reloadStates(): void {
    this.loadedFor = undefined;
  }

  /** Alert states as last committed (for the API and tests). */
  currentStates(): ReadonlyMap<string, AlertState> {
    return this.states;
  }

  private needs(funnel: FunnelDef, rules: readonly AlertRuleDef[]): FunnelNeeds {
    const dims = new Set<string>();
    const dur = new Set<number>();
    let weeks = 0;
    // Every dimension, not only the rules' segments: a new incident's drill-down looks at all of them.
    funnel.dimensions.forEach((d) => dims.add(d.name));
    for (const r of rules) {
      r.segments.forEach((d) => dims.add(d));
      if (r.metric.kind === 'step_duration') {
        const to = funnel.steps.findIndex((s) => s.name === (r.metric as { to: string }).to);
        if (to > 0) dur.add(to);
      }
      if (r.baseline.kind === 'seasonal') weeks = Math.max(weeks, r.baseline.weeks);
    }
    return { dimensions: [...dims].sort(), durationSteps: [...dur].sort(), seasonalWeeks: weeks };
  }

  private async evaluateFunnel(
    funnel: FunnelDef,
    rules: readonly AlertRuleDef[],
    now: number,
    changed: Map<string, AlertState>,
    transitions: AlertTransition[],
    report: TickReport,
  ): Promise<TickReport['funnels'][number]> {
    const b = funnel.bucketMs;
    const watermark = await this.source.watermark(funnel);
    // Never past the wall clock: an event stamped in the (allowed) future must not close buckets early.
    const evalTo = watermark === undefined ? null : Math.floor(Math.min(watermark, now) / b) * b;
    this.o.metrics?.evalWatermarkLag.set(
      { funnel: funnel.name },
      evalTo === null ? 0 : Math.max(0, (now - evalTo) / 1000),
    );
    const out: TickReport['funnels'][number] = {
      funnel: funnel.name,
      evalTo,
      guards: { data_stale: false, no_traffic: false },
    };
    if (evalTo === null) {
      out.skipped = 'no data yet';
      return out;
    }
    const previous = this.lastEvalTo.get(funnel.name);
    const reader = await this.source.reader(funnel, evalTo, this.needs(funnel, rules));
    const guards = this.guards(funnel, reader, now, watermark, evalTo);
    out.guards = { data_stale: guards.data_stale.active, no_traffic: guards.no_traffic.active };
    this.stepGuards(funnel, rules, guards, now, evalTo, changed, transitions);
    // Nothing new since the last look, unless the rules changed: an edited rule is looked at the next tick.
    if (previous !== undefined && evalTo <= previous && this.lastVersion.get(funnel.name) === this.ruleSetVersion) {
      out.skipped = 'watermark has not moved';
      return out;
    }
    this.lastEvalTo.set(funnel.name, evalTo);
    this.lastVersion.set(funnel.name, this.ruleSetVersion);
    this.observeCompleteness(funnel, rules, reader, evalTo);
    for (const rule of rules) {
      const { results, look } = this.evaluateOne(funnel, rule, reader, evalTo);
      report.series += results.length;
      const counts = { breach: 0, ok: 0, insufficient: 0, inhibited: 0 };
      for (const r of results) {
        const key = alertKey(rule.name, r.segment);
        const prev = this.states.get(key);
        const obs = this.observation(funnel, rule, r, guards, evalTo, prev);
        counts[obs.condition]++;
        const step = stepAlert(prev, rule.name, r.segment, obs, now, {
          forMs: rule.forMs,
          resolveAfterMs: rule.resolveAfterMs,
        });
        if (step.transition === 'firing') {
          // Worked out once, when the incident opens: where the deficit is (deploys are added after the loop).
          const from = step.next.evidence?.onset ?? step.next.pendingSince ?? now;
          const dd = summarizeDrilldown(
            drilldownFor(
              look,
              from,
              funnel.dimensions.map((d) => d.name),
            ),
          );
          if (dd) step.next.context = { ...step.next.context, drilldown: dd };
        }
        if (worthWriting(prev, step.next, step.transition !== null, now, this.written.get(key)))
          changed.set(key, step.next);
        else this.states.set(key, step.next);
        if (step.transition)
          transitions.push(this.transition(rule, funnel, this.states.get(key), step.next, step.transition, now));
      }
      for (const [result, n] of Object.entries(counts)) this.o.metrics?.evalSeries.set({ rule: rule.name, result }, n);
    }
    return out;
  }

  private guards(funnel: FunnelDef, reader: SeriesReader, now: number, watermark: number | undefined, evalTo: number) {
    const b = funnel.bucketMs;
    const entries: number[] = [];
    for (let t = evalTo - 130 * b; t < evalTo; t += b) entries.push(reader.fine(t, null)?.volume[0] ?? 0);
    return evaluateGuards({ now, watermark, bucketMs: b, entries, staleAfterMs: this.o.staleAfterMs });
  }

  /**
   * One rule looked at now exactly as a tick would (same look, same observation), stepping and committing nothing:
   * what `funnelwatch explain` shows. Works on any replica: a standby reads the committed alert states and the
   * saved completeness curves, as it would on becoming leader. Undefined for a rule the active set does not have.
   */
  async explainLook(
    ruleName: string,
    now: number = this.o.clock.now(),
    segment?: SegmentRef,
  ): Promise<ExplainLook | undefined> {
    const ruleSet = this.o.rules();
    const rule = ruleSet.rules.find((r) => r.name === ruleName);
    const funnel = rule && ruleSet.funnels.find((f) => f.name === rule.funnel);
    if (!rule || !funnel) return undefined;
    const watermark = await this.source.watermark(funnel);
    const evalTo =
      watermark === undefined ? null : Math.floor(Math.min(watermark, now) / funnel.bucketMs) * funnel.bucketMs;
    const leading = this.o.lease.isLeader() && this.loadedFor !== undefined;
    const states = leading ? this.states : await this.o.alerts.load();
    const out: ExplainLook = { rule, funnel, now, watermark, evalTo, states, series: [] };
    if (evalTo === null) return out;
    const m = rule.metric;
    let tracker: CompletenessTracker | undefined;
    if (m.kind === 'cohort_conversion') {
      const key = completenessKey(funnel.name, m.from, m.to);
      tracker = this.completeness.get(key);
      if (!tracker) {
        const saved = this.seed[key] ?? (await this.o.completenessStore?.load())?.[key];
        tracker = funnelCompletenessTracker(funnel, saved);
      }
    }
    // Its own read of the buckets: the tick's cache must not be refreshed to another evalTo under it. Nothing is
    // awaited between the read and the look, so no other refresh can change what the look reads either.
    const source = 'bucketCounts' in this.o.store ? new StoreFunnelSource(this.o.store) : this.source;
    const rules = ruleSet.rules.filter((r) => r.funnel === funnel.name);
    const reader = await source.reader(funnel, evalTo, this.needs(funnel, rules));
    out.guards = this.guards(funnel, reader, now, watermark, evalTo);
    const { results, look } = this.evaluateOne(funnel, rule, reader, evalTo, {
      states,
      tracker,
      ...(segment ? { extra: segment } : {}),
    });
    out.look = look;
    for (const r of results) {
      const state = states.get(alertKey(rule.name, r.segment));
      const obs = this.observation(funnel, rule, r, out.guards, evalTo, state);
      out.series.push({ result: r, condition: obs.condition, ...(state ? { state } : {}) });
    }
    return out;
  }

  private evaluateOne(
    funnel: FunnelDef,
    rule: AlertRuleDef,
    reader: SeriesReader,
    evalTo: number,
    using: {
      states: ReadonlyMap<string, AlertState>;
      tracker?: CompletenessTracker | undefined;
      /** A series evaluated even without recent traffic (the one `explain --segment` asks about). */
      extra?: SegmentRef;
    } | null = null,
  ): { results: SeriesResult[]; look: RuleLook } {
    let memory = this.memories.get(rule.name);
    if (!memory) {
      memory = new RuleMemory();
      this.memories.set(rule.name, memory);
    }
    const frozenBefore = new Map<string, number>();
    const scanFrom = new Map<string, number>();
    const extraSegments = [];
    for (const s of (using?.states ?? this.states).values()) {
      if (s.rule === rule.name && s.scanFrom !== undefined && s.status !== 'pending' && s.status !== 'firing')
        scanFrom.set(segmentKey(s.segment), s.scanFrom);
      if (s.rule !== rule.name || (s.status !== 'pending' && s.status !== 'firing')) continue;
      if (s.segment) extraSegments.push(s.segment);
      // The span under test started at the onset (or when it went pending): the baseline ends before it.
      const onset = s.evidence?.onset ?? s.pendingSince ?? s.since;
      frozenBefore.set(segmentKey(s.segment), Math.min(onset, s.pendingSince ?? onset));
    }
    if (using?.extra) extraSegments.push(using.extra);
    const m = rule.metric;
    const tracker = using
      ? using.tracker
      : m.kind === 'cohort_conversion'
        ? this.completeness.get(completenessKey(funnel.name, m.from, m.to))
        : undefined;
    const look: RuleLook = {
      rule,
      funnel,
      // A rule on a slice (`where:`) reads the slice as its series, with its own baseline.
      reader: rule.where ? sliceReader(reader, rule.where) : reader,
      evalTo,
      memory,
      frozenBefore,
      scanFrom,
      extraSegments,
      completeness: tracker?.curve(),
      maxValuesPerDimension: this.o.maxValuesPerDimension,
    };
    return { results: evaluateRule(look), look };
  }

  /** Feeds each cohort metric's tracker with the funnel-wide counts of the young buckets (completeness.ts). */
  private observeCompleteness(
    funnel: FunnelDef,
    rules: readonly AlertRuleDef[],
    reader: SeriesReader,
    evalTo: number,
  ): void {
    const b = funnel.bucketMs;
    const mature = matureAgeBuckets(funnel);
    for (const rule of rules) {
      const m = rule.metric;
      if (m.kind !== 'cohort_conversion') continue;
      const key = completenessKey(funnel.name, m.from, m.to);
      let tr = this.completeness.get(key);
      if (!tr) {
        tr = funnelCompletenessTracker(funnel, this.seed[key]);
        this.completeness.set(key, tr);
      }
      const f = funnel.steps.findIndex((s) => s.name === m.from);
      const t = funnel.steps.findIndex((s) => s.name === m.to);
      for (let age = 0; age <= mature; age++) {
        const start = evalTo - (age + 1) * b;
        const v = reader.fine(start, null);
        if (v) tr.observe(start, age, v.cohort[f] ?? 0, Math.min(v.cohort[t] ?? 0, v.cohort[f] ?? 0));
      }
      tr.forgetBefore(evalTo - (mature + 2) * b);
    }
  }

  private observation(
    funnel: FunnelDef,
    rule: AlertRuleDef,
    r: SeriesResult,
    guards: GuardResults,
    evalTo: number,
    prev: AlertState | undefined,
  ): Observation {
    const d = r.detection;
    const evidence: Evidence = {
      observed: d.observed,
      expected: d.expected,
      observedRate: d.observedRate,
      expectedRate: d.expectedRate,
      relativeChange: d.relativeChange,
      volume: d.volume,
      windowMinutes: d.windowMinutes,
      statistic: d.statistic,
      threshold: d.threshold,
      pValue: d.pValue,
      chanceRatePerWeek: d.chanceRatePerWeek,
      onset: r.onset,
      evaluatedUpTo: evalTo,
      baseline: r.baseline,
      noise: { tau2: r.noise.tau2, tau2Slow: r.noise.tau2Slow ?? 0 },
      recentChange: r.recent.relativeChange,
      recentMinutes: (r.recent.buckets * funnel.bucketMs) / 60_000,
    };
    if (d.reason) evidence.reason = d.reason;
    if (r.unlearnedYoung > 0 && !evidence.reason)
      evidence.reason =
        `${r.unlearnedYoung} young cohort bucket(s) waiting for maturity ` + `(completeness still being learned)`;
    const volumeRule = rule.metric.kind === 'step_volume';
    const guard: GuardName | null = guards.data_stale.active
      ? 'data_stale'
      : guards.no_traffic.active && !volumeRule
        ? 'no_traffic'
        : null;
    if (guard) return { condition: 'inhibited', evidence: { ...evidence, guard } };
    // Paging needs both: the scan's evidence (calibrated to the budget) and the newest data still off by at least
    // half the rule's change. Staying firing asks only the newest windows (the scan's long ones keep seeing an
    // incident for hours after it ended): it resolves once they are back at the baseline and clearly apart from
    // the incident's own level (recoveredSteps, the hysteresis), counted from the start of that window.
    const stillOff = r.recent.relativeChange >= rule.minChange / 2;
    const active = prev?.status === 'firing';
    let okFrom: number | undefined;
    if (active && d.state !== 'insufficient' && d.recentWindows) {
      const level = Math.max(rule.minChange / 2, Math.min(1, prev.peak?.relativeChange ?? rule.minChange));
      // Only windows inside the incident: one reaching back before its onset is mostly healthy data minutes in.
      const start = incidentDataStart(prev);
      const maxSteps = start === null ? Infinity : Math.floor((evalTo - start) / funnel.bucketMs);
      const steps = recoveredSteps(d.recentWindows, Number.isFinite(level) ? level : rule.minChange, maxSteps);
      if (steps !== null) okFrom = evalTo - steps * funnel.bucketMs;
    }
    let condition: Observation['condition'] =
      d.state === 'insufficient'
        ? 'insufficient'
        : active
          ? d.recentWindows
            ? okFrom === undefined
              ? 'breach'
              : 'ok'
            : stillOff
              ? 'breach'
              : 'ok'
          : d.state === 'breach' && stillOff
            ? 'breach'
            : 'ok';
    // Young cohorts left out (completeness not learned yet, e.g. right after a failover without a saved curve)
    // hide exactly the newest data: "no drop" is then not evidence of recovery, so an open alert holds.
    if (condition === 'ok' && r.unlearnedYoung > 0 && (prev?.status === 'firing' || prev?.status === 'pending'))
      condition = 'insufficient';
    return condition === 'ok' && okFrom !== undefined ? { condition, evidence, okFrom } : { condition, evidence };
  }

  /** The guards as alerts of their own (`<funnel>/data_stale`), notified to every receiver of the funnel's rules. */
  private stepGuards(
    funnel: FunnelDef,
    rules: readonly AlertRuleDef[],
    guards: GuardResults,
    now: number,
    evalTo: number,
    changed: Map<string, AlertState>,
    transitions: AlertTransition[],
  ): void {
    for (const name of ['data_stale', 'no_traffic'] as const) {
      const g = guards[name];
      this.o.metrics?.dataGuard.set({ funnel: funnel.name, guard: name }, g.active ? 1 : 0);
      const ruleName = `${funnel.name}/${name}`;
      const key = alertKey(ruleName, null);
      const prev = this.states.get(key);
      if (!g.active && (!prev || prev.status === 'inactive')) continue; // nothing to record for a quiet guard
      const evidence: Evidence = {
        observed: g.observed,
        expected: g.expected,
        observedRate: NaN,
        expectedRate: NaN,
        relativeChange: g.expected > 0 ? (g.expected - g.observed) / g.expected : 0,
        volume: g.observed,
        windowMinutes: 0,
        statistic: 0,
        threshold: 0,
        pValue: 1,
        chanceRatePerWeek: 0,
        onset: null,
        evaluatedUpTo: evalTo,
        baseline: { kind: 'trailing' },
        guard: name,
        reason: g.detail,
      };
      const step = stepAlert(
        prev,
        ruleName,
        null,
        { condition: g.active ? 'breach' : 'ok', evidence },
        now,
        GUARD_RULES,
      );
      changed.set(key, step.next);
      if (step.transition)
        transitions.push(
          this.transition(guardRule(funnel, rules, name), funnel, prev, step.next, step.transition, now),
        );
    }
  }

  /**
   * Probe alerts: each (journey, location) steps on its latest runs, as stored by every runner. A journey whose
   * funnel the rule files do not define is not judged (the journey loader reports it).
   */
  private async evaluateProbes(
    probes: ProbeAlertPort,
    ruleSet: RuleSet,
    now: number,
    changed: Map<string, AlertState>,
    transitions: AlertTransition[],
  ): Promise<void> {
    for (const { rule, segment, observation } of await probes.look(now)) {
      const funnel = ruleSet.funnels.find((f) => f.name === rule.funnel);
      if (!funnel) continue;
      const key = alertKey(rule.name, segment);
      const prev = this.states.get(key);
      const step = stepAlert(prev, rule.name, segment, observation, now, rule);
      if (worthWriting(prev, step.next, step.transition !== null, now, this.written.get(key)))
        changed.set(key, step.next);
      else this.states.set(key, step.next);
      if (step.transition) transitions.push(this.transition(rule, funnel, prev, step.next, step.transition, now));
    }
  }

  /**
   * Deploys near the onset of each incident that opened this tick, ranked (deploys/correlate.ts), into the state
   * and the transition. A failure to read them costs the alert its "likely cause", never the alert.
   */
  private async attachDeploys(
    ruleSet: RuleSet,
    changed: Map<string, AlertState>,
    transitions: AlertTransition[],
  ): Promise<void> {
    const store = this.o.deploys;
    if (!store) return;
    const lookback = this.o.deployLookbackMs ?? 2 * 3_600_000;
    for (const t of transitions) {
      if (t.kind !== 'firing' || t.evidence?.guard) continue;
      const key = alertKey(t.rule, t.segment);
      const state = changed.get(key);
      const funnel = ruleSet.funnels.find((f) => f.name === t.funnel);
      if (!state || !funnel) continue;
      const onset = t.evidence?.onset ?? state.pendingSince ?? t.at;
      try {
        const found = await store.between(onset - lookback, Math.max(onset, t.at));
        const env = this.o.environment ? { environment: this.o.environment } : {};
        const deploys = rankDeploys(
          found,
          {
            funnel: funnel.name,
            services: funnel.services,
            segment: t.segment,
            onset,
            bucketMs: funnel.bucketMs,
            ...env,
          },
          { lookbackMs: lookback },
        );
        state.context = { ...state.context, deploys };
        t.context = state.context;
      } catch (err) {
        this.o.logger.warn(
          { alert: key, err: errorMessage(err) },
          'could not read deploy markers; the alert goes out without them',
        );
      }
    }
  }

  /**
   * The deliveries of this tick (notify/plan.ts): the jobs, and the outbox writes to commit with them; the
   * bookkeeping states they change are added to `changed`. Runs over every state, not only the funnels looked at
   * this tick: reminders and the end of a silence must not wait for a funnel's watermark to move.
   */
  private async planDeliveries(
    ruleSet: RuleSet,
    now: number,
    changed: Map<string, AlertState>,
    transitions: AlertTransition[],
    deleteKeys: readonly string[],
  ): Promise<Pick<Plan, 'jobs' | 'outbox' | 'groupWrites' | 'groups' | 'placed'>> {
    const firing =
      [...this.states.values()].some((s) => s.status === 'firing') ||
      [...changed.values()].some((s) => s.status === 'firing');
    if (!firing && this.groups.size === 0)
      return { jobs: [], outbox: [], groupWrites: [], groups: this.groups, placed: new Map() };
    const view = new Map(this.states);
    for (const [k, s] of changed) view.set(k, s);
    const silences = this.o.silences ? await this.o.silences.active(now) : [];
    const removed = new Set(deleteKeys);
    const repeat = this.o.remindEveryMs ?? 4 * 3_600_000;
    const plan = planDeliveries({
      now,
      states: view,
      transitions,
      silences,
      groups: this.groups,
      receivers: new Map([BUILTIN_CONSOLE, ...ruleSet.receivers].map((r) => [r.name, receiverGrouping(r, repeat)])),
      describe: (key, state) => (removed.has(key) ? undefined : this.describe(ruleSet, key, state, now)),
    });
    for (const n of plan.notes) {
      const { level, message } = noteMessage(n);
      const fields =
        n.kind === 'unknown_receiver'
          ? { alert: n.key, receiver: n.receiver }
          : { alert: n.key, receiver: n.receiver, silence: n.silence };
      this.o.logger[level](fields, message);
    }
    return plan;
  }

  /** A still-firing alert as a notification carries it, from its rule (or its funnel's guard); undefined if gone. */
  private describe(ruleSet: RuleSet, key: string, state: AlertState, now: number): AlertTransition | undefined {
    const parsed = parseAlertKey(key);
    if (!parsed) return undefined;
    let rule =
      ruleSet.rules.find((r) => r.name === parsed.rule) ?? this.o.probes?.rules().find((r) => r.name === parsed.rule);
    let funnel = rule && ruleSet.funnels.find((f) => f.name === rule!.funnel);
    if (!rule) {
      const m = /^(.*)\/(data_stale|no_traffic)$/.exec(parsed.rule);
      funnel = m ? ruleSet.funnels.find((f) => f.name === m[1]) : undefined;
      const rules = funnel ? ruleSet.rules.filter((r) => r.funnel === funnel!.name) : [];
      if (!m || !funnel || rules.length === 0) return undefined;
      rule = guardRule(funnel, rules, m[2] as GuardName);
    }
    if (!funnel) return undefined;
    return {
      ...this.transition(rule, funnel, state, state, 'firing', now),
      id: `${state.incidentId ?? key}#${state.seq}`,
    };
  }

  /** Alert states of rules that no longer exist are deleted; an open incident among them is resolved first. */
  private retireRemovedRules(
    ruleSet: RuleSet,
    now: number,
    changed: Map<string, AlertState>,
    transitions: AlertTransition[],
  ): string[] {
    const live = new Set(ruleSet.rules.map((r) => r.name));
    for (const r of this.o.probes?.rules() ?? []) live.add(r.name);
    for (const f of ruleSet.funnels) {
      live.add(`${f.name}/data_stale`);
      live.add(`${f.name}/no_traffic`);
    }
    const remove: string[] = [];
    for (const [k, s] of this.states) {
      const parsed = parseAlertKey(k);
      if (!parsed || live.has(parsed.rule)) continue;
      remove.push(k);
      changed.delete(k);
      if (s.status === 'firing') {
        const next: AlertState = {
          ...s,
          status: 'resolved',
          since: now,
          resolvedAt: now,
          seq: s.seq + 1,
          lastEvaluated: now,
        };
        if (next.evidence) next.evidence = { ...next.evidence, reason: 'the rule was removed from the rule files' };
        transitions.push({
          id: `${s.incidentId ?? k}#${next.seq}`,
          kind: 'resolved',
          at: now,
          rule: s.rule,
          funnel: '',
          segment: s.segment,
          severity: 'info',
          notify: [],
          labels: {},
          incidentId: s.incidentId,
          from: 'firing',
          to: 'resolved',
          evidence: next.evidence,
          ruleSetVersion: ruleSet.version,
        });
      }
    }
    return remove;
  }

  private transition(
    rule: AlertRuleDef,
    funnel: FunnelDef,
    prev: AlertState | undefined,
    next: AlertState,
    kind: AlertTransition['kind'],
    now: number,
  ): AlertTransition {
    const t: AlertTransition = {
      id: `${next.incidentId ?? alertKey(rule.name, next.segment)}#${next.seq}`,
      kind,
      at: now,
      rule: rule.name,
      funnel: funnel.name,
      segment: next.segment,
      severity: rule.severity,
      notify: rule.notify,
      // A rule on a slice says which one wherever labels show (Slack, PagerDuty details, silences can match it).
      labels: rule.where
        ? { slice: `${rule.where.dimension}=${rule.where.values.join(',')}`, ...rule.labels }
        : rule.labels,
      incidentId: next.incidentId,
      from: prev?.status ?? 'inactive',
      to: next.status,
      evidence: next.evidence,
      ruleSetVersion: this.ruleSetVersion,
    };
    if (rule.owner !== undefined) t.owner = rule.owner;
    if (rule.groupBy !== undefined) t.groupBy = rule.groupBy;
    if (rule.runbook !== undefined) t.runbook = rule.runbook;
    if (rule.description !== undefined) t.description = rule.description;
    if (next.context !== undefined) t.context = next.context;
    if (rule.metric.kind !== 'cohort_conversion') t.metric = rule.metric.kind;
    const counted = countedFromStep(rule, funnel);
    if (counted !== undefined) t.countedFrom = counted;
    return t;
  }

  private async notify(transitions: readonly AlertTransition[]): Promise<void> {
    for (const t of transitions) {
      this.o.metrics?.alertTransitions.inc({ rule: t.rule, kind: t.kind });
      try {
        await this.o.notifier.notify(t);
      } catch (err) {
        this.o.metrics?.notifyFailures.inc();
        this.o.logger.error(
          { transition: t.id, err: errorMessage(err) },
          'notifier failed; the transition is committed in the alert stream',
        );
      }
    }
  }

  private exportStates(): void {
    const m = this.o.metrics;
    if (!m) return;
    const by: Record<string, number> = { inactive: 0, insufficient: 0, pending: 0, firing: 0, resolved: 0 };
    for (const s of this.states.values()) by[s.status] = (by[s.status] ?? 0) + 1;
    for (const [status, n] of Object.entries(by)) m.alertsByStatus.set({ status }, n);
  }
}

/** A funnel's data guard as a rule of its own, notifying every receiver of the funnel's rules. */
function guardRule(funnel: FunnelDef, rules: readonly AlertRuleDef[], name: GuardName): AlertRuleDef {
  return {
    name: `${funnel.name}/${name}`,
    funnel: funnel.name,
    description:
      name === 'data_stale'
        ? "The funnel's data stopped arriving; its rules are on hold until it is back."
        : 'Entry traffic collapsed; conversion rules are on hold until it is back.',
    metric: { kind: 'step_volume', step: funnel.steps[0]!.name },
    direction: 'drop',
    minChange: 0.9,
    baseline: { kind: 'trailing', windowMs: 2 * 3_600_000 },
    falseAlarmsPerWeek: 1,
    minVolume: 0,
    forMs: 0,
    resolveAfterMs: GUARD_RULES.resolveAfterMs,
    severity: 'warning',
    segments: [],
    notify: [...new Set(rules.flatMap((r) => r.notify))],
    labels: { guard: name },
    mixShift: 'ignore',
    source: rules[0]!.source,
  };
}
