/**
 * The go/no-go evidence package of one comparison (gate, canary, baseline): what the verdict endpoint answers, what
 * is stored in Redis for `GET /v1/gates/<name>/evidence`, and what `funnelwatch gate --report` prints as Markdown.
 * Built here from the gate's definition and the sequential test's result (pure), so the three cannot disagree.
 */
import type { Deploy } from '../deploys/deploy.js';
import type { GateDef, GateMetricDef } from '../rules/gate.js';
import type { GateLook, GateTestResult, Verdict } from './sequential-test.js';

export interface GateArm {
  /** The dimension value (the canary's or the baseline's version). */
  value: string;
  /** Entities that entered (cohort) or events at `from` (ratio), before any maturity correction. */
  entered: number;
  /** Trials the test used: entries, young cohorts counted at their completeness. */
  trials: number;
  successes: number;
  /** successes / trials; null without trials. */
  rate: number | null;
}

/** A gate's settings as the API and the evidence show them (durations in minutes). */
export interface GateSettings {
  drop: number;
  falseFail: number;
  power: number;
  expectedWeight: number | null;
  warmupMinutes: number;
  maxDurationMinutes: number;
  onTimeout: GateDef['onTimeout'];
  onSrm: GateDef['onSrm'];
}

/** The settings of `g`, with the expected canary weight of this comparison (the API may override the gate's). */
export function gateSettings(g: GateDef, expectedWeight: number | undefined): GateSettings {
  return {
    drop: g.drop,
    falseFail: g.falseFail,
    power: g.power,
    expectedWeight: expectedWeight ?? null,
    warmupMinutes: g.warmupMs / 60_000,
    maxDurationMinutes: g.maxDurationMs / 60_000,
    onTimeout: g.onTimeout,
    onSrm: g.onSrm,
  };
}

export interface GateEvidence {
  version: 1;
  gate: string;
  funnel: string;
  description?: string;
  owner?: string;
  metric: GateMetricDef;
  splitBy: string;
  verdict: Verdict;
  /** harm_established | harm_ruled_out | srm | warming_up | no_data | collecting | timeout */
  reason: string;
  explanation: string;
  /** When the verdict was reached (end of that minute, event time); null while inconclusive. */
  decidedAt: string | null;
  canary: GateArm;
  baseline: GateArm;
  /** Relative effect canary/baseline − 1 (negative: the canary converts worse), with its anytime-valid interval. */
  effect: GateTestResult['effect'];
  srm: GateTestResult['srm'];
  minutesUsed: number;
  /** Estimated minutes until a decision at the current traffic and effect; 0 once decided, null when unknown. */
  minutesToDecision: number | null;
  warmupExcludedMinutes: number;
  /** Young cohort buckets left out because their completeness is not learned yet (they count once mature). */
  youngCohortsLeftOut: number;
  /** The comparison's start: `first_seen` (the canary's first minute in the history) or `request` (`since=`). */
  since: string;
  sinceSource: 'first_seen' | 'request';
  /** The end of the data the answer covers (event time) and when it was computed (the daemon's clock). */
  dataUntil: string;
  dataUntilMs: number;
  evaluatedAt: string;
  settings: GateSettings;
  /** The explicit rollback condition and whether it fired (fail), was cleared (pass) or is still armed. */
  rollback: { condition: string; status: 'fired' | 'cleared' | 'armed'; at: string | null };
  /** The deploy marker of the canary version (service, version, when), if one was posted. */
  deploy: Deploy | null;
  /** The verdict over time: the first look, every change, and the last look. */
  timeline: { at: string; verdict: Verdict; failEvidence: number; passEvidence: number; srmMismatch: boolean }[];
  ruleSetVersion: string;
}

export interface EvidenceInput {
  gate: GateDef;
  splitBy: string;
  canary: { value: string; entered: number };
  baseline: { value: string; entered: number };
  result: GateTestResult;
  expectedWeight: number | undefined;
  since: number;
  sinceSource: GateEvidence['sinceSource'];
  dataUntil: number;
  now: number;
  youngLeftOut: number;
  deploy: Deploy | null;
  ruleSetVersion: string;
}

export function buildEvidence(i: EvidenceInput): GateEvidence {
  const { gate: g, result: r } = i;
  const decidedAt = r.verdict !== 'inconclusive' && r.decidedAt !== undefined ? iso(r.decidedAt) : null;
  const e: GateEvidence = {
    version: 1,
    gate: g.name,
    funnel: g.funnel,
    metric: g.metric,
    splitBy: i.splitBy,
    verdict: r.verdict,
    reason: r.reason,
    explanation: r.explanation,
    decidedAt,
    canary: { value: i.canary.value, entered: i.canary.entered, ...r.canary },
    baseline: { value: i.baseline.value, entered: i.baseline.entered, ...r.baseline },
    effect: r.effect,
    srm: r.srm,
    minutesUsed: r.minutesUsed,
    minutesToDecision: r.minutesToDecision,
    warmupExcludedMinutes: r.warmupExcludedMinutes,
    youngCohortsLeftOut: i.youngLeftOut,
    since: iso(i.since),
    sinceSource: i.sinceSource,
    dataUntil: iso(i.dataUntil),
    dataUntilMs: i.dataUntil,
    evaluatedAt: iso(i.now),
    settings: gateSettings(g, i.expectedWeight),
    rollback: {
      condition: rollbackCondition(g, i.expectedWeight),
      status: r.verdict === 'fail' ? 'fired' : r.verdict === 'pass' ? 'cleared' : 'armed',
      at: decidedAt,
    },
    deploy: i.deploy,
    timeline: compressTimeline(r.timeline),
    ruleSetVersion: i.ruleSetVersion,
  };
  if (g.description !== undefined) e.description = g.description;
  if (g.owner !== undefined) e.owner = g.owner;
  return e;
}

/** The condition under which the rollout should be rolled back, in words a reviewer can check against the gate. */
export function rollbackCondition(g: GateDef, expectedWeight: number | undefined): string {
  const m = g.metric;
  const what = `${m.kind === 'cohort_conversion' ? 'cohort' : 'ratio'} conversion ${m.from} → ${m.to}`;
  const parts = [
    `roll back when the canary's ${what} is established to be worse than the baseline's ` +
      `(harm of ${pct(g.drop)} or more matters; at most ${pct(g.falseFail)} of good canaries fail)`,
  ];
  if (g.onSrm === 'fail' && expectedWeight !== undefined)
    parts.push(`or when the canary's share of traffic departs from ${pct(expectedWeight)} beyond chance`);
  if (g.onTimeout === 'fail')
    parts.push(`or when no decision is reached within ${g.maxDurationMs / 60_000} minutes after the warm-up`);
  return parts.join(', ');
}

/** The first look, each look whose verdict or split check changed, and the last look. */
function compressTimeline(looks: readonly GateLook[]): GateEvidence['timeline'] {
  const out: GateEvidence['timeline'] = [];
  looks.forEach((l, k) => {
    const prev = looks[k - 1];
    const keep =
      k === 0 || k === looks.length - 1 || prev!.verdict !== l.verdict || prev!.srmMismatch !== l.srmMismatch;
    if (keep)
      out.push({
        at: iso(l.at),
        verdict: l.verdict,
        failEvidence: round(l.failEvidence),
        passEvidence: round(l.passEvidence),
        srmMismatch: l.srmMismatch,
      });
  });
  return out;
}

function round(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(4)) : x;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function pct(x: number): string {
  return `${Number((x * 100).toFixed(2))}%`;
}

function rate(x: number | null): string {
  return x === null ? '—' : `${(x * 100).toFixed(2)}%`;
}

function signed(x: number | null): string {
  if (x === null) return '—';
  const v = (x * 100).toFixed(1);
  return `${x > 0 ? '+' : x < 0 ? '−' : '±'}${v.replace('-', '')}%`;
}

/** The two one-sided bounds, each with its confidence (the fail and the pass test they invert). */
function interval(ef: GateEvidence['effect']): string {
  const at = (c: number | undefined) => (c === undefined ? '' : ` (${Math.round(c * 100)}% confidence)`);
  const parts = [
    ...(ef.lower !== null ? [`at least ${signed(ef.lower)}${at(ef.lowerConfidence)}`] : []),
    ...(ef.upper !== null ? [`at most ${signed(ef.upper)}${at(ef.upperConfidence)}`] : []),
  ];
  return parts.length > 0 ? parts.join(', ') : 'not yet estimable';
}

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** The evidence package as Markdown (`funnelwatch gate --report`): for the change record or the pull request. */
export function evidenceMarkdown(e: GateEvidence): string {
  const m = e.metric;
  const lines = [
    `# Canary gate \`${e.gate}\`: **${e.verdict.toUpperCase()}**`,
    '',
    `${e.explanation}`,
    '',
    `- Comparison: \`${e.splitBy}\` = \`${e.canary.value}\` (canary) vs \`${e.baseline.value}\` (baseline), ` +
      `funnel \`${e.funnel}\`, ${m.kind.replace('_', ' ')} \`${m.from}\` → \`${m.to}\``,
    `- Verdict: **${e.verdict}** (\`${e.reason}\`)${e.decidedAt ? `, reached at ${e.decidedAt}` : ''}`,
    `- Data: ${e.since} to ${e.dataUntil} (since: ${e.sinceSource.replace('_', ' ')}); ` +
      `${e.minutesUsed} min used, ${e.warmupExcludedMinutes} min of warm-up excluded` +
      (e.youngCohortsLeftOut > 0 ? `, ${e.youngCohortsLeftOut} young cohort bucket(s) not yet counted` : ''),
    `- Minutes to a decision: ${
      e.minutesToDecision === null ? 'unknown at the current traffic' : String(e.minutesToDecision)
    }`,
    '',
    '| arm | value | entered | trials | conversions | rate |',
    '|---|---|---:|---:|---:|---:|',
    ...[
      ['canary', e.canary],
      ['baseline', e.baseline],
    ].map(
      ([arm, a]) =>
        `| ${arm as string} | \`${(a as GateArm).value}\` | ${count((a as GateArm).entered)} ` +
        `| ${count((a as GateArm).trials)} | ${count((a as GateArm).successes)} | ${rate((a as GateArm).rate)} |`,
    ),
    '',
    `Relative effect (canary vs baseline): **${signed(e.effect.estimate)}**; anytime-valid bounds: ` +
      `${interval(e.effect)}.`,
    '',
    `Sample ratio: ${
      e.srm.checked
        ? `expected canary share ${pct(e.srm.expectedWeight ?? 0)}, observed ` +
          `${e.srm.observedWeight === null ? '—' : pct(e.srm.observedWeight)}, p = ${
            e.srm.pValue === null ? '—' : e.srm.pValue.toPrecision(2)
          }: ${e.srm.mismatch ? '**MISMATCH** (the verdict cannot be pass)' : 'consistent'}`
        : 'not checked (no expected weight configured or given)'
    }.`,
    '',
    `Rollback condition (${e.rollback.status}${e.rollback.at ? ` at ${e.rollback.at}` : ''}): ${e.rollback.condition}.`,
    '',
    `Deploy marker: ${
      e.deploy
        ? `${e.deploy.service} ${e.deploy.version} (${e.deploy.environment}) at ${iso(e.deploy.ts)}` +
          `${e.deploy.author ? ` by ${e.deploy.author}` : ''}${e.deploy.url ? ` — ${e.deploy.url}` : ''}`
        : 'none posted for this version'
    }.`,
    '',
    `Settings: drop ${pct(e.settings.drop)}, false_fail ${pct(e.settings.falseFail)}, ` +
      `power ${pct(e.settings.power)}, warm-up ${e.settings.warmupMinutes} min, ` +
      `max duration ${e.settings.maxDurationMinutes} min (then ${e.settings.onTimeout}), on SRM ${e.settings.onSrm}; ` +
      `rules ${e.ruleSetVersion}.`,
    '',
    '## Timeline',
    '',
    '| at (event time) | verdict | fail evidence | pass evidence | split mismatch |',
    '|---|---|---:|---:|---|',
    ...e.timeline.map(
      (t) => `| ${t.at} | ${t.verdict} | ${t.failEvidence} | ${t.passEvidence} | ${t.srmMismatch ? 'yes' : 'no'} |`,
    ),
    '',
  ];
  return lines.join('\n');
}
