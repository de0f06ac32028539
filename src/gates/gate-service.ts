/**
 * The canary gate's one decision, whoever asks (the verdict endpoint for Argo Rollouts, the Flagger webhook, the
 * CLI): read the two arms' per-minute counts from the window store, correct young cohorts with the learned
 * completeness curve, run the sequential test from the comparison's first minute (stateless: any replica gives the
 * same answer), store the evidence record, and queue the announcement of a decided verdict on the delivery outbox
 * exactly once (gate-store.ts).
 *
 * Bad requests are FwErrors with catalog codes (unknown gate, a value never seen, a dimension the funnel lacks, a
 * bad `since`), so the HTTP layer answers them 4xx with the message; Redis failures are 503 as everywhere.
 */
import type { Clock } from '../core/clock.js';
import { FwError, errorMessage } from '../core/errors.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { FunnelDef } from '../funnels/funnel.js';
import type { WindowStore } from '../windows/window-store.js';
import type { RuleSet } from '../rules/rule-set.js';
import type { GateDef } from '../rules/gate.js';
import { didYouMeanSuffix } from '../rules/did-you-mean.js';
import { unknownDimensionMessage } from '../rules/semantics.js';
import type { Deploy } from '../deploys/deploy.js';
import type { DeployStore } from '../deploys/deploy-store.js';
import type { AlertTransition } from '../model/alert-transition.js';
import type { GateNotice } from '../model/gate-notice.js';
import { outboxWrites } from '../notify/delivery-log.js';
import type { DeliveryJob } from '../notify/receiver.js';
import { completenessKey, funnelCompletenessTracker } from '../engine/completeness.js';
import type { CompletenessPersistence } from '../engine/completeness-store.js';
import { firstSeen, MINUTE, readGateSeries, type GateSeriesQuery } from './gate-counts.js';
import { buildEvidence, gateSettings, type GateEvidence, type GateSettings } from './gate-evidence.js';
import { comparisonField, comparisonOf, type GateStore } from './gate-store.js';
import { runGateTest } from './sequential-test.js';

export interface GateServiceOptions {
  rules: () => RuleSet | undefined;
  windows: WindowStore;
  store: GateStore;
  clock: Clock;
  /** The curves the evaluator learns and persists; without one, young cohorts wait until they are mature. */
  completeness?: CompletenessPersistence;
  deploys?: DeployStore;
  metrics?: Metrics;
  logger?: Logger;
}

export interface VerdictRequest {
  gate: string;
  canary: string;
  baseline: string;
  /** Start of the comparison (ms); default: the canary's first minute in the history. */
  since?: number;
  /** Expected canary share (0..1) for the split check; default: the gate's `expected_weight`. */
  weight?: number;
  /** Another dimension of the funnel to split by; default: the gate's `split_by`. */
  splitBy?: string;
}

export interface GateSummary extends GateSettings {
  name: string;
  funnel: string;
  description: string | null;
  owner: string | null;
  metric: GateDef['metric'];
  splitBy: string;
  notify: string[];
  source: GateDef['source'];
}

const VERDICT_VALUE = { pass: 1, inconclusive: 0, fail: -1 } as const;

export class GateService {
  constructor(private readonly o: GateServiceOptions) {}

  list(): GateSummary[] {
    return (this.o.rules()?.gates ?? []).map((g) => ({
      name: g.name,
      funnel: g.funnel,
      description: g.description ?? null,
      owner: g.owner ?? null,
      metric: g.metric,
      splitBy: g.splitBy,
      ...gateSettings(g, g.expectedWeight),
      notify: [...g.notify],
      source: g.source,
    }));
  }

  /** The gate and its funnel, or UNKNOWN_GATE. */
  resolve(name: string): { gate: GateDef; funnel: FunnelDef; ruleSet: RuleSet } {
    const ruleSet = this.o.rules();
    const gates = ruleSet?.gates ?? [];
    const gate = gates.find((g) => g.name === name);
    const funnel = gate && ruleSet?.funnels.find((f) => f.name === gate.funnel);
    if (!ruleSet || !gate || !funnel) {
      const names = gates.map((g) => g.name);
      throw new FwError(
        'UNKNOWN_GATE',
        `no gate "${name}"${didYouMeanSuffix(name, names)}; ` +
          (names.length > 0 ? `the gates are ${names.join(', ')}` : 'the rule files define no gates'),
      );
    }
    return { gate, funnel, ruleSet };
  }

  /** The verdict now; stores the evidence record and queues a new decision's announcement. */
  async verdict(req: VerdictRequest): Promise<GateEvidence> {
    const { gate, funnel, ruleSet } = this.resolve(req.gate);
    const splitBy = this.splitOf(funnel, req.splitBy ?? gate.splitBy);
    if (req.canary === req.baseline)
      throw new FwError('BAD_REQUEST', `canary and baseline are both "${req.canary}"; compare two different values`);
    const now = this.o.clock.now();
    const b = funnel.bucketMs;
    const watermarks = [...(await this.o.windows.getWatermarks(funnel)).values()];
    if (watermarks.length === 0)
      throw new FwError('GATE_VALUE_UNSEEN', `funnel "${funnel.name}" has no events yet: nothing to compare`);
    const evalTo = Math.floor(Math.min(Math.max(...watermarks), now) / b) * b;
    const q: GateSeriesQuery = {
      store: this.o.windows,
      funnel,
      metric: gate.metric,
      splitBy,
      canary: req.canary,
      baseline: req.baseline,
      evalTo,
      ...(gate.metric.kind === 'cohort_conversion' ? { completeness: await this.curve(funnel, gate) } : {}),
    };
    const lastMinute = Math.floor(evalTo / MINUTE) * MINUTE;
    const oldest = evalTo - funnel.retention.fineMs;
    let since: number;
    if (req.since !== undefined) {
      since = Math.floor(req.since / MINUTE) * MINUTE;
      if (since >= lastMinute)
        throw new FwError(
          'BAD_REQUEST',
          `since ${new Date(req.since).toISOString()} is after the newest complete minute of data ` +
            `(${new Date(lastMinute).toISOString()})`,
        );
      if (since < oldest)
        throw new FwError(
          'BAD_REQUEST',
          `since ${new Date(req.since).toISOString()} is older than the minutes funnel "${funnel.name}" keeps ` +
            `(from ${new Date(oldest).toISOString()}, retention.fine)`,
        );
    } else {
      const first = await firstSeen(q);
      if (first === undefined) throw unseen('canary', req.canary, splitBy, funnel, oldest);
      since = first;
    }
    const until = Math.min(lastMinute, since + gate.warmupMs + gate.maxDurationMs);
    const series = await readGateSeries(q, since, until);
    if (series.canaryEntered === 0) throw unseen('canary', req.canary, splitBy, funnel, since);
    if (series.baselineEntered === 0) throw unseen('baseline', req.baseline, splitBy, funnel, since);
    const expectedWeight = req.weight ?? gate.expectedWeight;
    const result = runGateTest(series.minutes, {
      drop: gate.drop,
      falseFail: gate.falseFail,
      power: gate.power,
      ...(expectedWeight !== undefined ? { expectedWeight } : {}),
      warmupMs: gate.warmupMs,
      maxDurationMs: gate.maxDurationMs,
      onTimeout: gate.onTimeout,
      onSrm: gate.onSrm,
    });
    const evidence = buildEvidence({
      gate,
      splitBy,
      canary: { value: req.canary, entered: series.canaryEntered },
      baseline: { value: req.baseline, entered: series.baselineEntered },
      result,
      expectedWeight,
      since,
      sinceSource: req.since !== undefined ? 'request' : 'first_seen',
      dataUntil: until,
      now,
      youngLeftOut: series.youngLeftOut,
      deploy: await this.deployOf(funnel, req.canary, since, until),
      ruleSetVersion: ruleSet.version,
    });
    const answer = await this.keepDecision(evidence, now);
    await this.record(gate, answer, now);
    return answer;
  }

  /**
   * A decision once reached is the answer from then on (the rollout tools may have acted on it): the re-run may not
   * replay a decision reached on young cohorts (sequential-test.ts decides only on the newest look or on mature
   * cohorts), so the stored record's decision is served unless the split check withdrew it or the comparison
   * starts elsewhere (another `since`).
   */
  private async keepDecision(e: GateEvidence, now: number): Promise<GateEvidence> {
    if (e.verdict !== 'inconclusive' || e.reason === 'srm') return e;
    const prior = await this.o.store.get(comparisonOf(e));
    if (!prior || prior.verdict === 'inconclusive' || prior.since !== e.since) return e;
    return { ...prior, evaluatedAt: new Date(now).toISOString() };
  }

  /**
   * Looks again, once a minute, at the undecided comparisons whose data window (warm-up + max duration) is not over
   * and that were looked at in the last `activeMs`, so a decision is recorded and announced in the minute it is
   * reached even when the rollout tool asks less often (or stopped asking). Bounded: a comparison drops out when
   * its window is over (its answer cannot change after). Returns how many were looked at.
   */
  async revisit(activeMs = 30 * MINUTE): Promise<number> {
    const now = this.o.clock.now();
    const open = (await this.o.store.all()).filter((e) => {
      const windowEnd = Date.parse(e.since) + (e.settings.warmupMinutes + e.settings.maxDurationMinutes) * MINUTE;
      return e.verdict === 'inconclusive' && e.dataUntilMs < windowEnd && now - Date.parse(e.evaluatedAt) <= activeMs;
    });
    let n = 0;
    for (const e of open) {
      if (!this.o.rules()?.gates.some((g) => g.name === e.gate)) continue;
      try {
        await this.verdict({
          gate: e.gate,
          canary: e.canary.value,
          baseline: e.baseline.value,
          splitBy: e.splitBy,
          ...(e.sinceSource === 'request' ? { since: Date.parse(e.since) } : {}),
          ...(e.settings.expectedWeight !== null ? { weight: e.settings.expectedWeight } : {}),
        });
        n++;
      } catch (err) {
        this.o.logger?.warn({ gate: e.gate, canary: e.canary.value, err: errorMessage(err) }, 'gate revisit failed');
      }
    }
    return n;
  }

  /** The stored evidence record of a comparison. */
  async evidence(c: { gate: string; canary: string; baseline: string; splitBy?: string }): Promise<GateEvidence> {
    const { gate, funnel } = this.resolve(c.gate);
    const splitBy = this.splitOf(funnel, c.splitBy ?? gate.splitBy);
    const found = await this.o.store.get({ gate: gate.name, splitBy, canary: c.canary, baseline: c.baseline });
    if (!found)
      throw new FwError(
        'GATE_NO_EVIDENCE',
        `no evidence for gate "${gate.name}" with canary "${c.canary}" and baseline "${c.baseline}" yet: ` +
          `ask for its verdict first (GET /v1/gates/${gate.name}/verdict?canary=…&baseline=…)`,
      );
    return found;
  }

  private splitOf(funnel: FunnelDef, splitBy: string): string {
    const unknown = unknownDimensionMessage(funnel, splitBy);
    if (unknown) throw new FwError('GATE_UNKNOWN_DIMENSION', unknown);
    return splitBy;
  }

  /** The learned completeness curve of the gate's cohort metric (undefined ages: not learned yet). */
  private async curve(funnel: FunnelDef, gate: GateDef): Promise<(number | undefined)[] | undefined> {
    if (!this.o.completeness) return undefined;
    const snapshot = await this.o.completeness.load().catch((err: unknown) => {
      // Without a curve the gate is slower (young cohorts wait until mature), never wrong: answer anyway.
      this.o.logger?.warn({ gate: gate.name, err: errorMessage(err) }, 'completeness curves unreadable');
      return {} as Record<string, never>;
    });
    const state = snapshot[completenessKey(funnel.name, gate.metric.from, gate.metric.to)];
    return state ? funnelCompletenessTracker(funnel, state).curve() : undefined;
  }

  /** The newest deploy marker of the canary version for the funnel's services, posted before the data's end. */
  private async deployOf(funnel: FunnelDef, version: string, since: number, until: number): Promise<Deploy | null> {
    if (!this.o.deploys) return null;
    const norm = (v: string) =>
      v
        .trim()
        .toLowerCase()
        .replace(/^v(?=\d)/, '');
    const services = new Set(funnel.services.map((s) => s.toLowerCase()));
    try {
      const list = await this.o.deploys.list({ since: since - 86_400_000, until: until + 5 * MINUTE, limit: 1000 });
      return (
        list.find(
          (d) => norm(d.version) === norm(version) && (services.size === 0 || services.has(d.service.toLowerCase())),
        ) ?? null
      );
    } catch (err) {
      this.o.logger?.warn({ err: errorMessage(err) }, 'deploy markers unreadable; the evidence names none');
      return null;
    }
  }

  private async record(gate: GateDef, e: GateEvidence, now: number): Promise<void> {
    const decided = e.verdict === 'inconclusive' ? undefined : e.verdict;
    const jobs = decided && gate.notify.length > 0 ? outboxWrites(announcementJobs(gate, e, decided, now)) : [];
    const { queued } = await this.o.store.save(e, decided, jobs);
    const m = this.o.metrics;
    if (m) {
      const labels = { gate: gate.name, canary: e.canary.value };
      m.gateVerdict.set(labels, VERDICT_VALUE[e.verdict]);
      for (const arm of ['canary', 'baseline'] as const) {
        m.gateTrials.set({ ...labels, arm }, e[arm].trials);
        m.gateSuccesses.set({ ...labels, arm }, e[arm].successes);
      }
      if (queued && decided) m.gateDecisions.inc({ gate: gate.name, verdict: decided });
    }
    if (queued)
      this.o.logger?.info(
        { gate: gate.name, canary: e.canary.value, baseline: e.baseline.value, verdict: decided, reason: e.reason },
        `gate ${gate.name} decided: ${decided}`,
      );
  }
}

function unseen(arm: 'canary' | 'baseline', value: string, splitBy: string, funnel: FunnelDef, from: number): FwError {
  const max = funnel.dimensions.find((d) => d.name === splitBy)?.maxValues;
  return new FwError(
    'GATE_VALUE_UNSEEN',
    `the ${arm} value ${JSON.stringify(value)} of ${splitBy} has no entries in funnel "${funnel.name}" ` +
      `since ${new Date(from).toISOString()}: check the value (events must carry ` +
      `attrs.${splitBy}) or wait for its traffic` +
      (max !== undefined ? `; a dimension tracks ${max} values, later new ones count as "other"` : ''),
  );
}

/** One `gate_verdict` job per receiver of the gate; ids are stable per comparison and verdict (outbox dedup). */
function announcementJobs(gate: GateDef, e: GateEvidence, verdict: 'pass' | 'fail', now: number): DeliveryJob[] {
  const incident = `gate:${comparisonField(comparisonOf(e))}:${verdict}`;
  const decidedAt = e.decidedAt ? Date.parse(e.decidedAt) : now;
  const notice: GateNotice = {
    gate: gate.name,
    funnel: gate.funnel,
    splitBy: e.splitBy,
    canary: e.canary.value,
    baseline: e.baseline.value,
    verdict,
    reason: e.reason,
    explanation: e.explanation,
    decidedAt,
    canaryRate: e.canary.rate,
    baselineRate: e.baseline.rate,
    effect: e.effect,
    evidencePath:
      `/v1/gates/${encodeURIComponent(gate.name)}/evidence?canary=${encodeURIComponent(e.canary.value)}` +
      `&baseline=${encodeURIComponent(e.baseline.value)}`,
    ...(gate.description !== undefined ? { description: gate.description } : {}),
    ...(gate.owner !== undefined ? { owner: gate.owner } : {}),
  };
  // The alert a job carries names the gate the way an alert names its rule, for receivers' common wording.
  const alert: AlertTransition = {
    id: `${incident}#1`,
    kind: 'firing',
    at: decidedAt,
    rule: gate.name,
    funnel: gate.funnel,
    segment: { dimension: e.splitBy, value: e.canary.value },
    severity: verdict === 'fail' ? 'warning' : 'info',
    notify: [...gate.notify],
    labels: { gate: gate.name, canary: e.canary.value, baseline: e.baseline.value, verdict },
    incidentId: incident,
    from: 'inactive',
    to: 'firing',
    metric: gate.metric.kind,
    ruleSetVersion: e.ruleSetVersion,
    ...(gate.description !== undefined ? { description: gate.description } : {}),
    ...(gate.owner !== undefined ? { owner: gate.owner } : {}),
  };
  return gate.notify.map((receiver) => ({
    id: `${incident}/gate_verdict/${receiver}`,
    receiver,
    event: 'gate_verdict' as const,
    alert,
    createdAt: now,
    attempt: 0,
    gate: notice,
  }));
}
