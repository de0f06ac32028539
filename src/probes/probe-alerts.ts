/**
 * The probe rule kind: a journey failing K of its last N runs (default 2 of 3), or one step slower than a threshold
 * in each of its last M runs, judged per location on the runs every runner stored (run-store.ts). The engine steps
 * it through the same alert state machine, silences, grouping and receivers as any rule (engine/evaluator.ts,
 * ProbeAlertPort), once a minute on the lease holder; the page's headline is the reason: the journey, the failed
 * step, the answer's status and a redacted excerpt, and the engine adds the deploy markers before the onset.
 *
 * Rule name `probe:<journey>`, segment `location=<location>`; fires on the look that sees the condition (`for: 0`)
 * and resolves on the first look that does not (K of N already smooths a single flaky run).
 */
import type { Observation } from '../engine/alert-state.js';
import type { ProbeAlertPort, ProbeLook } from '../engine/evaluator.js';
import type { Evidence } from '../model/evidence.js';
import type { AlertRuleDef } from '../rules/rule.js';
import type { Journey, JourneySet } from './load.js';
import type { RedisProbeRuns, StoredRun } from './run-store.js';

export const PROBE_RULE_PREFIX = 'probe:';

/** Runs older than this many intervals say nothing about now: the look is insufficient (no runner at the place). */
const STALE_INTERVALS = 5;

export function probeRuleName(journey: string): string {
  return `${PROBE_RULE_PREFIX}${journey}`;
}

/** The journey's alert as a rule the engine steps (`for: 0`, resolved on the first good look). */
export function probeRule(j: Journey): AlertRuleDef {
  const a = j.alert;
  const slow = a.slow ? `, or step ${a.slow.step} over ${a.slow.overMs} ms in ${a.slow.runs} runs in a row` : '';
  return {
    name: probeRuleName(j.name),
    funnel: j.funnel,
    description: `Canary user ${j.name}: fails ${a.failures} of its last ${a.of} runs at a location${slow}.`,
    metric: { kind: 'step_volume', step: j.steps[0]!.name },
    direction: 'drop',
    minChange: 0,
    baseline: { kind: 'trailing', windowMs: j.everyMs * a.of },
    falseAlarmsPerWeek: 0,
    minVolume: 1,
    forMs: 0,
    resolveAfterMs: 0,
    severity: a.severity,
    segments: ['location'],
    notify: [...a.notify],
    labels: { probe: j.name },
    mixShift: 'ignore',
    ...(a.runbook ? { runbook: a.runbook } : {}),
    source: j.source,
  };
}

function failureText(r: StoredRun): string {
  const excerpt = r.excerpt ? `; answer: ${r.excerpt}` : '';
  return `step ${r.step ?? '?'}: ${r.message ?? r.reason ?? 'failed'}${excerpt}`;
}

/** What the latest runs (newest first) of one journey at one location say. Pure. */
export function judgeProbe(j: Journey, location: string, runs: readonly StoredRun[], now: number): Observation {
  const a = j.alert;
  const newest = runs[0];
  const evidence = (failed: number, looked: number, reason: string, onset: number | null): Evidence => ({
    observed: failed,
    expected: 0,
    observedRate: looked > 0 ? failed / looked : 0,
    expectedRate: 0,
    relativeChange: looked > 0 ? failed / looked : 0,
    volume: looked,
    windowMinutes: Math.round((j.everyMs * a.of) / 60_000),
    statistic: failed,
    threshold: a.failures,
    pValue: 1,
    chanceRatePerWeek: 0,
    onset,
    evaluatedUpTo: newest?.at ?? now,
    baseline: { kind: 'trailing' },
    reason,
  });
  if (!newest || now - newest.at > STALE_INTERVALS * j.everyMs + 60_000) {
    // A location gone silent: no runs is no recovery, so an alert firing there keeps firing (alert-state.ts), and
    // its evidence says why it is no longer judged and what the last runs said.
    const last = runs.slice(0, a.of);
    const reason = newest
      ? `${j.name} has not run at ${location} since ${new Date(newest.at).toISOString()} ` +
        `(over ${STALE_INTERVALS} intervals): its runner there went silent; its last ${last.length} runs ` +
        `failed ${last.filter((r) => !r.ok).length}, and an alert firing there stays firing until a run passes`
      : `${j.name} has no runs at ${location}`;
    return { condition: 'insufficient', evidence: evidence(0, 0, reason, null) };
  }
  const window = runs.slice(0, a.of);
  const failures = window.filter((r) => !r.ok);
  if (failures.length >= a.failures) {
    const last = failures[0]!;
    const reason =
      `${j.name} failed ${failures.length} of its last ${window.length} runs at ${location}; ` +
      `latest failure (run ${last.runId}) ${failureText(last)}`;
    return { condition: 'breach', evidence: evidence(failures.length, window.length, reason, failures.at(-1)!.at) };
  }
  if (a.slow) {
    const { step, overMs, runs: m } = a.slow;
    const recent = runs.slice(0, m);
    const slow = recent.filter((r) => (r.latencies[step] ?? -1) > overMs);
    if (recent.length >= m && slow.length === m) {
      const ms = slow.map((r) => r.latencies[step]).join(', ');
      const reason =
        `${j.name}: step ${step} took over ${overMs} ms in each of its last ${m} runs at ${location} ` + `(${ms} ms)`;
      return { condition: 'breach', evidence: evidence(m, m, reason, slow.at(-1)!.at) };
    }
  }
  const reason = `${j.name} failed ${failures.length} of its last ${window.length} runs at ${location}`;
  return { condition: 'ok', evidence: evidence(failures.length, window.length, reason, null) };
}

/** The engine's view of the probe alerts of the journeys active now. */
export class ProbeAlerts implements ProbeAlertPort {
  private cache: { set: JourneySet; rules: AlertRuleDef[] } | undefined;

  constructor(
    private readonly journeys: () => JourneySet | null,
    private readonly runs: RedisProbeRuns,
  ) {}

  rules(): readonly AlertRuleDef[] {
    const set = this.journeys();
    if (!set) return [];
    if (this.cache?.set !== set)
      this.cache = { set, rules: set.journeys.filter((j) => j.alert.enabled).map(probeRule) };
    return this.cache.rules;
  }

  async look(now: number): Promise<ProbeLook[]> {
    const looks: ProbeLook[] = [];
    for (const j of this.journeys()?.journeys ?? []) {
      if (!j.alert.enabled) continue;
      const rule = probeRule(j);
      const need = Math.max(j.alert.of, j.alert.slow?.runs ?? 0);
      for (const location of await this.runs.locations(j.name)) {
        const runs = await this.runs.latest(j.name, location, need);
        looks.push({
          rule,
          segment: { dimension: 'location', value: location },
          observation: judgeProbe(j, location, runs, now),
        });
      }
    }
    return looks;
  }
}
