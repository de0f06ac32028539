/**
 * `funnelwatch explain <rule>` and `GET /v1/rules/<name>/explain`: why a rule is quiet (or not), per series, in
 * plain words. Pure: from one look at the rule exactly as a tick sees it (Evaluator.explainLook), the active
 * silences and the unmatched-filter reports, to a JSON document (documented in the README's API section; the
 * dashboard shows it) and its text rendering for the CLI.
 *
 * What it says per series, in the order a person asks: is the data flowing (watermark age, data guards); is there
 * enough of it (volume vs `min_volume`, young cohorts left out); what is it compared with (the baseline, and the
 * fallback a seasonal rule with too little history uses); is anything holding the alert back (silences,
 * inhibition); and what the numbers are now (observed vs expected, the statistic and its threshold), with the
 * smallest change the rule would catch within 15, 60 and 240 minutes at today's traffic (detect/detectability.ts:
 * the scan's own noise model and thresholds).
 */
import { detectableChanges, type DetectableChange } from '../detect/detectability.js';
import { HOUR, MINUTE, extractor, isMature, matureAgeBuckets, stepIndex, SCAN_BUCKETS } from '../detect/rule-look.js';
import { FALLBACK_TRAILING_MS } from '../detect/series-baseline.js';
import { segmentKey, type SegmentRef } from '../detect/series-reader.js';
import { parseAlertKey } from '../model/alert-key.js';
import type { AlertStatus } from '../model/alert-state.js';
import { inhibitedBy } from '../notify/grouping.js';
import { alertLabels, matchingSilence, type Silence } from '../notify/silences.js';
import type { ExplainLook } from './evaluator.js';
import type { UnmatchedReport } from '../ingest/unmatched.js';

/** Horizons of the smallest detectable change, in minutes. */
export const EXPLAIN_HORIZONS = [15, 60, 240] as const;

export type ReasonCode =
  | 'no_data'
  | 'stale_data'
  | 'no_traffic'
  | 'low_volume'
  | 'no_baseline'
  | 'young_cohorts'
  | 'baseline_fallback'
  | 'silenced'
  | 'inhibited'
  | 'unmatched_filter'
  | 'breach'
  | 'ok';

export interface Reason {
  code: ReasonCode;
  text: string;
}

/** A funnel step whose events arrive but whose `where` filter keeps (almost) none of them (ingest/unmatched.ts). */
export type UnmatchedNote = UnmatchedReport;

export interface SeriesExplanation {
  segment: SegmentRef | null;
  /** `funnel-wide` or `dimension=value`. */
  label: string;
  /** The alert's committed status (`inactive` when it never had one). */
  status: AlertStatus;
  since: string | null;
  /** What the newest look concluded: breach, ok, insufficient, or inhibited (by a data guard). */
  condition: 'breach' | 'ok' | 'insufficient' | 'inhibited';
  /** The main reason in one sentence (`reasons[0].text`). */
  summary: string;
  reasons: Reason[];
  baseline: { kind: 'seasonal' | 'trailing'; weeksWanted?: number; weeksAvailable?: number; fallback?: string };
  /** Starts (or step events) in the scan's longest window, against `min_volume`. */
  volume: { windowMinutes: number; count: number; minVolume: number };
  /** The scan's reported window now; null when no window could be scored. */
  now: {
    windowMinutes: number;
    observed: number;
    expected: number;
    observedRate: number | null;
    expectedRate: number | null;
    relativeChange: number;
    statistic: number;
    threshold: number;
    pValue: number;
  } | null;
  /** Traffic the detectable changes assume: per minute, and the rate (conversion rules). */
  traffic: { perMinute: number; rate: number | null; rateFrom: 'baseline' | 'observed' | null };
  /** Smallest change caught within each horizon at today's traffic; change null = none would be. */
  detectable: DetectableChange[];
  silencedBy: { id: string; comment: string; createdBy: string; endsAt: string; receivers: string[] }[];
  inhibitedBy: { guard?: 'data_stale' | 'no_traffic'; alert?: string } | null;
}

export interface RuleExplanation {
  rule: string;
  funnel: string;
  metric: string;
  direction: 'drop' | 'increase';
  change: number;
  minVolume: number;
  falseAlarmsPerWeek: number;
  at: string;
  evaluatedUpTo: string | null;
  data: {
    watermark: string | null;
    ageSeconds: number | null;
    stale: boolean;
    noTraffic: boolean;
    detail: string;
  };
  unmatched: UnmatchedNote[];
  series: SeriesExplanation[];
}

export interface ExplainInput {
  look: ExplainLook;
  /** Silences as stored (any state: only those active at `look.now` count). */
  silences: readonly Silence[];
  /** Only this series (plus nothing else); default every series of the rule. */
  segment?: SegmentRef;
  unmatched?: readonly UnmatchedNote[];
}

const pct = (x: number, digits = 1) => `${(x * 100).toFixed(digits)} %`;
const iso = (t: number | null | undefined) => (t === null || t === undefined ? null : new Date(t).toISOString());
const finiteOr = (x: number, d: number | null = null) => (Number.isFinite(x) ? x : d);

export function metricText(look: Pick<ExplainLook, 'rule'>): string {
  const m = look.rule.metric;
  switch (m.kind) {
    case 'cohort_conversion':
      return `cohort conversion ${m.from} → ${m.to}`;
    case 'ratio_conversion':
      return `ratio ${m.to} / ${m.from}`;
    case 'step_volume':
      return `volume of ${m.step}`;
    case 'step_duration':
      return `p${Math.round(m.percentile * 100)} time ${m.from} → ${m.to}`;
  }
}

export function explainRule(input: ExplainInput): RuleExplanation {
  const { look } = input;
  const { rule, funnel, now, watermark, evalTo, guards } = look;
  const ageSeconds = watermark === undefined ? null : Math.max(0, Math.round((now - watermark) / 1000));
  const stale = guards?.data_stale.active ?? false;
  const noTraffic = guards?.no_traffic.active ?? false;
  const unmatched = (input.unmatched ?? []).filter((u) => u.funnel === funnel.name && ruleSteps(look).has(u.step));
  const wanted = input.segment ? segmentKey(input.segment) : undefined;
  const series = look.series
    .filter((s) => wanted === undefined || segmentKey(s.result.segment) === wanted)
    .map((s) => explainSeries(look, s, input.silences, unmatched));
  return {
    rule: rule.name,
    funnel: funnel.name,
    metric: metricText(look),
    direction: rule.direction,
    change: rule.minChange,
    minVolume: rule.minVolume,
    falseAlarmsPerWeek: rule.falseAlarmsPerWeek,
    at: iso(now)!,
    evaluatedUpTo: iso(evalTo),
    data: {
      watermark: watermark === undefined ? null : iso(watermark),
      ageSeconds,
      stale,
      noTraffic,
      detail:
        watermark === undefined
          ? `no event of funnel ${funnel.name} has been applied yet`
          : stale
            ? guards!.data_stale.detail
            : noTraffic
              ? guards!.no_traffic.detail
              : `newest event applied ${ageSeconds} s ago`,
    },
    unmatched,
    series,
  };
}

/** The funnel steps a rule reads. */
function ruleSteps(look: Pick<ExplainLook, 'rule' | 'funnel'>): Set<string> {
  const m = look.rule.metric;
  const names = m.kind === 'step_volume' ? [m.step] : [m.from, m.to];
  // A cohort's or ratio's trials are counted at `from`, which needs the funnel's entry step too.
  return new Set([look.funnel.steps[0]!.name, ...names]);
}

function explainSeries(
  look: ExplainLook,
  s: ExplainLook['series'][number],
  silences: readonly Silence[],
  unmatched: readonly UnmatchedNote[],
): SeriesExplanation {
  const { rule, funnel, guards } = look;
  const r = s.result;
  const d = r.detection;
  const reasons: Reason[] = [];
  const m = rule.metric;
  const counted =
    m.kind === 'step_volume' || m.kind === 'step_duration'
      ? `${m.kind === 'step_volume' ? m.step : m.to} events`
      : m.kind === 'ratio_conversion'
        ? `${m.from} events`
        : m.from === funnel.steps[0]!.name
          ? 'started'
          : `reaching ${m.from}`;
  const stepMinutes = funnel.bucketMs / MINUTE;
  const spanMinutes = SCAN_BUCKETS * stepMinutes;

  if (s.condition === 'inhibited') {
    const g = guards?.data_stale.active ? 'data_stale' : 'no_traffic';
    reasons.push({
      code: g === 'data_stale' ? 'stale_data' : 'no_traffic',
      text:
        g === 'data_stale'
          ? `data is stale: ${guards!.data_stale.detail}; the rule is inhibited until events flow again`
          : `traffic collapsed: ${guards!.no_traffic.detail}; conversion rules are inhibited meanwhile`,
    });
  }
  const volume = Math.round(scannedVolume(look, r.segment));
  if (d.state === 'insufficient') {
    if (d.reason?.startsWith('no baseline')) {
      reasons.push({ code: 'no_baseline', text: d.reason });
    } else if (d.reason === 'no window has min_volume starts' || volume < rule.minVolume) {
      reasons.push({
        code: 'low_volume',
        text:
          `too little traffic: needs ${rule.minVolume} ${counted} in a window of at most ${spanMinutes} min ` +
          `(min_volume), has ${volume} in the last ${spanMinutes} min`,
      });
    } else if (d.reason) {
      reasons.push({ code: 'no_baseline', text: d.reason });
    }
  }
  if (r.unlearnedYoung > 0) {
    reasons.push({
      code: 'young_cohorts',
      text:
        `${r.unlearnedYoung} young cohort bucket(s) left out: how fast cohorts complete is still being learned, ` +
        'so the newest minutes are not judged yet',
    });
  }
  const weeksWanted = rule.baseline.kind === 'seasonal' ? rule.baseline.weeks : undefined;
  if (r.baseline.fallback !== undefined) {
    const have = r.baseline.weeksAvailable;
    reasons.push({
      code: 'baseline_fallback',
      text:
        `seasonal baseline has ${have ?? '?'} of ${weeksWanted} week(s) of history; using the trailing ` +
        `${FALLBACK_TRAILING_MS / HOUR} h instead, with wider uncertainty`,
    });
  }
  const silencedBy = silencesFor(look, r.segment, silences);
  for (const sil of silencedBy) {
    reasons.push({
      code: 'silenced',
      text:
        `silenced by ${sil.id} until ${sil.endsAt} (${sil.comment || 'no comment'}, by ${sil.createdBy})` +
        (sil.receivers.length > 0 ? ` at ${sil.receivers.join(', ')}` : ''),
    });
  }
  let inhibited: SeriesExplanation['inhibitedBy'] = null;
  if (s.condition === 'inhibited') inhibited = { guard: guards?.data_stale.active ? 'data_stale' : 'no_traffic' };
  if (s.state?.status === 'firing') {
    const by = inhibitedBy(
      { rule: rule.name, segment: r.segment, ...(s.state.context ? { context: s.state.context } : {}) },
      (key) => look.states.get(key)?.status === 'firing',
    );
    if (by) {
      inhibited = { ...inhibited, alert: by };
      const seg = parseAlertKey(by)?.segment;
      const where = seg ? `${seg.dimension}=${seg.value}` : by;
      reasons.push({
        code: 'inhibited',
        text: `inhibited at its receivers: the drill-down places the deficit in ${where}, whose alert fires and pages`,
      });
    }
  }
  for (const u of unmatched) reasons.push({ code: 'unmatched_filter', text: u.text });
  const scored = d.state !== 'insufficient' && Number.isFinite(d.threshold);
  if (scored) {
    const rates =
      Number.isFinite(d.observedRate) && rule.metric.kind !== 'step_volume'
        ? `${pct(d.observedRate)} observed vs ${pct(d.expectedRate)} expected`
        : `${round(d.observed)} observed vs ${round(d.expected)} expected`;
    const delta = rule.direction === 'drop' ? -d.relativeChange : d.relativeChange; // observed vs expected
    const change = `${delta <= -0.0005 ? '−' : '+'}${pct(Math.abs(delta))}`;
    const cmp = d.statistic >= d.threshold ? '≥' : 'below';
    reasons.push({
      code: s.condition === 'breach' ? 'breach' : 'ok',
      text:
        `${s.condition === 'breach' ? 'breach' : 'ok'}: ${rates} over the ${d.windowMinutes}-minute window ` +
        `(${change}); statistic ${d.statistic.toFixed(2)} ${cmp} its threshold ${d.threshold.toFixed(2)}`,
    });
  }
  const traffic = trafficOf(look, r.segment, d);
  const detectable =
    r.scan && traffic.perMinute > 0 && (traffic.rate !== null || rule.metric.kind === 'step_volume')
      ? detectableChanges({
          family: rule.metric.kind === 'step_volume' ? 'poisson' : 'binomial',
          perStep: traffic.perMinute * stepMinutes,
          ...(traffic.rate !== null ? { rate: traffic.rate } : {}),
          completenessByAge: completenessByAge(look),
          direction: rule.direction,
          minChange: rule.minChange,
          minVolume: rule.minVolume,
          noise: r.noise,
          baselineRelVariance: r.scan.baselineRelVariance,
          falseAlarmsPerWeek: r.scan.budget,
          stepMinutes,
          ...(r.scan.resolveAfterMinutes !== undefined ? { resolveAfterMinutes: r.scan.resolveAfterMinutes } : {}),
          horizonsMinutes: EXPLAIN_HORIZONS,
        })
      : EXPLAIN_HORIZONS.map((h) => ({ withinMinutes: h, change: null, windowMinutes: null }));
  if (reasons.length === 0) reasons.push({ code: 'ok', text: 'ok' });
  return {
    segment: r.segment,
    label: r.segment ? `${r.segment.dimension}=${r.segment.value}` : 'funnel-wide',
    status: s.state?.status ?? 'inactive',
    since: iso(s.state?.since),
    condition: s.condition,
    summary: reasons[0]!.text,
    reasons,
    baseline: {
      kind: r.baseline.kind,
      ...(weeksWanted !== undefined ? { weeksWanted } : {}),
      ...(r.baseline.kind === 'seasonal' && r.baseline.weeksUsed !== undefined
        ? { weeksAvailable: r.baseline.weeksUsed }
        : r.baseline.weeksAvailable !== undefined
          ? { weeksAvailable: r.baseline.weeksAvailable }
          : {}),
      ...(r.baseline.fallback ? { fallback: r.baseline.fallback } : {}),
    },
    volume: {
      windowMinutes: spanMinutes,
      count: Math.round(scannedVolume(look, r.segment)),
      minVolume: rule.minVolume,
    },
    now: scored
      ? {
          windowMinutes: d.windowMinutes,
          observed: d.observed,
          expected: d.expected,
          observedRate: finiteOr(d.observedRate),
          expectedRate: finiteOr(d.expectedRate),
          relativeChange: d.relativeChange,
          statistic: d.statistic,
          threshold: d.threshold,
          pValue: d.pValue,
        }
      : null,
    traffic,
    detectable,
    silencedBy,
    inhibitedBy: inhibited,
  };
}

function round(x: number): string {
  return Math.abs(x) >= 100 ? String(Math.round(x)) : x.toFixed(1);
}

/** Active silences that mute this series at any of the rule's receivers (or at all, for a rule without any). */
function silencesFor(
  look: ExplainLook,
  segment: SegmentRef | null,
  silences: readonly Silence[],
): SeriesExplanation['silencedBy'] {
  const { rule, funnel, now } = look;
  const labels = alertLabels({
    labels: rule.labels,
    segment,
    funnel: funnel.name,
    rule: rule.name,
    severity: rule.severity,
  });
  const byId = new Map<string, SeriesExplanation['silencedBy'][number]>();
  const receivers = rule.notify.length > 0 ? rule.notify : [''];
  for (const receiver of receivers) {
    const s = matchingSilence(receiver ? { ...labels, receiver } : labels, silences, now);
    if (!s) continue;
    const entry = byId.get(s.id) ?? {
      id: s.id,
      comment: s.comment,
      createdBy: s.createdBy,
      endsAt: iso(s.endsAt)!,
      receivers: [],
    };
    if (receiver) entry.receivers.push(receiver);
    byId.set(s.id, entry);
  }
  return [...byId.values()];
}

/** The series' newest hour: trials (or step events) per minute, and the rate the detectable changes assume. */
function trafficOf(
  look: ExplainLook,
  segment: SegmentRef | null,
  d: ExplainLook['series'][number]['result']['detection'],
): SeriesExplanation['traffic'] {
  const { rule, funnel, evalTo } = look;
  const reader = look.look?.reader;
  if (!reader || evalTo === null) return { perMinute: 0, rate: null, rateFrom: null };
  const b = funnel.bucketMs;
  const ex = extractor(rule, funnel);
  const step = rule.metric.kind === 'step_volume' ? stepIndex(funnel, rule.metric.step) : 0;
  let recent = 0;
  for (let t = evalTo - HOUR; t < evalTo; t += b) {
    const v = reader.fine(t, segment);
    if (v) recent += ex ? ex.trials(v) : (v.volume[step] ?? 0);
  }
  const perMinute = recent / (HOUR / MINUTE);
  if (!ex) return { perMinute, rate: null, rateFrom: null };
  if (Number.isFinite(d.expectedRate) && d.expectedRate > 0)
    return { perMinute, rate: d.expectedRate, rateFrom: 'baseline' };
  // No baseline yet: what the series converted at over its mature buckets stands in for it.
  let trials = 0,
    successes = 0;
  for (let t = evalTo - SCAN_BUCKETS * b; t < evalTo; t += b) {
    const v = reader.fine(t, segment);
    if (!v || !isMature(funnel, t, evalTo, ex.cohort)) continue;
    trials += ex.trials(v);
    successes += ex.successes(v);
  }
  return trials > 0 && successes > 0 && successes < trials
    ? { perMinute, rate: successes / trials, rateFrom: 'observed' }
    : { perMinute, rate: null, rateFrom: null };
}

/** Starts (or step events) in the scan's span, whether or not a window was scored. */
function scannedVolume(look: ExplainLook, segment: SegmentRef | null): number {
  const { rule, funnel, evalTo } = look;
  const reader = look.look?.reader;
  if (!reader || evalTo === null) return 0;
  const ex = extractor(rule, funnel);
  const step = rule.metric.kind === 'step_volume' ? stepIndex(funnel, rule.metric.step) : 0;
  let n = 0;
  for (let t = evalTo - SCAN_BUCKETS * funnel.bucketMs; t < evalTo; t += funnel.bucketMs) {
    const v = reader.fine(t, segment);
    if (v) n += ex ? ex.trials(v) : (v.volume[step] ?? 0);
  }
  return n;
}

/** The rule's cohort completeness by age as the scan uses it (0 = left out, unlearned); none for other metrics. */
function completenessByAge(look: ExplainLook): number[] | undefined {
  if (look.rule.metric.kind !== 'cohort_conversion') return undefined;
  const mature = matureAgeBuckets(look.funnel);
  const g = look.look?.completeness;
  return Array.from({ length: mature }, (_, age) => {
    const x = g?.[age];
    return x !== undefined && x > 0 ? x : 0;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Text for the CLI

export function renderExplanation(e: RuleExplanation): string[] {
  const out: string[] = [];
  const dir = e.direction === 'drop' ? 'drop' : 'increase';
  out.push(
    `rule ${e.rule} (funnel ${e.funnel}): ${e.metric}, pages on a ${dir} of ${pct(e.change, 0)} or more, ` +
      `min_volume ${e.minVolume}, ${e.falseAlarmsPerWeek} false alarm(s)/week`,
  );
  out.push(`data: ${e.data.detail}${e.evaluatedUpTo ? `; evaluated up to ${e.evaluatedUpTo}` : ''}`);
  for (const u of e.unmatched) out.push(`warning: ${u.text}`);
  if (e.series.length === 0) out.push('no series to explain (no data for this rule yet)');
  for (const s of e.series) {
    out.push('');
    out.push(`${s.label}: ${s.status}${s.since ? ` since ${s.since}` : ''} — ${s.summary}`);
    for (const r of s.reasons.slice(1)) out.push(`  ${r.text}`);
    const det = s.detectable
      .map((x) => `${x.change === null ? 'none' : pct(x.change)} within ${x.withinMinutes} min`)
      .join(', ');
    const rate =
      s.traffic.rate !== null
        ? ` at ${pct(s.traffic.rate)}${s.traffic.rateFrom === 'observed' ? ' (observed)' : ''}`
        : '';
    out.push(`  traffic ${round(s.traffic.perMinute)}/min${rate}; smallest ${dir} it would catch: ${det}`);
  }
  return out;
}
