/**
 * One rule, one look: from a funnel's per-bucket counts (series.ts) to a detection per series (the whole funnel,
 * and each value of each `segments` dimension). Pure apart from its caches: no I/O, time passed in. The daemon's
 * evaluator (evaluator.ts) and the detection benchmark both call `evaluateRule`.
 *
 * What a look does, per series (detection.md, statistics.md; each step's why is at its function):
 * 1. The series: the newest `SCAN_BUCKETS` cohort buckets up to `evalTo` (the end of the newest bucket the data
 *    watermark has completed): trials and successes per bucket, and for cohort metrics the completeness G(age) of
 *    each young bucket (completeness.ts); young buckets whose G is not learned yet are left out.
 * 2. The baseline rate per bucket (baselineRates): seasonal (same slot in past weeks from rollups, trimmed, × a
 *    level factor) or trailing; a seasonal rule with too little history falls back to trailing and says so. While
 *    an alert is pending or firing its baseline is frozen at the onset, so a long incident does not become normal.
 * 3. Mix shift: with `mix_shift: ignore`, the funnel-wide expectation is risk-adjusted by the first segment
 *    dimension (Σ starts_v · p0_v): a campaign of low-intent traffic moves the expectation, not the alarm.
 * 4. Noise: extra-binomial τ² estimated hourly from the last 12 hours' residuals against the expectation the
 *    detector uses (for a risk-adjusted funnel-wide series, the segment-weighted one: a campaign must not read
 *    as noise).
 * 5. The scan detector (detect/scan-detector.ts) at the rule's budget divided over the series it evaluates
 *    (Bonferroni), so `false_alarms: 1/week` is the rule's budget, not each segment value's.
 */
import {
  detectChange, detectVolumeChange, estimateNoiseProfile, riskAdjustedResidual, scanThresholds, seasonalBaseline, trailingBaseline,
  type BaselineEstimate,
  type Counts, type Detection, type NoiseModel, type Residual,
} from '../detect/index.js';
import type { FunnelDef } from '../funnels/funnel.js';
import type { AlertRuleDef } from '../rules/rule.js';
import { bucketValue } from '../windows/histogram.js';
import { alertKey } from '../model/alert-key.js';
import type { DrilldownSummary } from '../model/alert-context.js';
import { drilldown, type DrilldownResult, type SegmentInput } from '../detect/drilldown.js';
import type { BucketView, SegmentRef, SeriesReader } from './series.js';

export const SCAN_BUCKETS = 240;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const WEEK = 7 * 24 * HOUR;
/** Seasonal slot: the rollup bucket of the same time of week, ± this much. */
const SLOT_HALF_WIDTH_MS = 30 * MINUTE;
/** The level factor is measured over these hours, ending where the span under test begins. */
const LEVEL_SPAN_MS = 6 * HOUR;
const LEVEL_GAP_MS = 4 * HOUR;
/** The trailing fallback of a seasonal rule (fresh installs): this long, with a drift allowance. */
const FALLBACK_TRAILING_MS = 4 * HOUR;
const FALLBACK_DRIFT_REL_VAR = 0.01 ** 2;
const NOISE_REFRESH_MS = HOUR;
const NOISE_SPAN_MS = 12 * HOUR;

export interface SeriesKey {
  rule: string;
  segment: SegmentRef | null;
}

export interface SeriesResult extends SeriesKey {
  detection: Detection;
  baseline: { kind: 'trailing' | 'seasonal'; fallback?: string; weeksUsed?: number; level?: number };
  noise: NoiseModel;
  /** Epoch ms of the estimated onset (breach only). */
  onset: number | null;
  /** Cohort buckets left out because their completeness is not learned yet. */
  unlearnedYoung: number;
  /** The newest data alone (recentChange): whether an alert is still bad now, not somewhere in the last 4 hours. */
  recent: RecentChange;
}

/**
 * Relative change over the newest buckets only: as many as it takes to expect RECENT_MIN_EXPECTED events (its
 * relative noise ≈ 5 %), at least RECENT_MIN_BUCKETS, at most RECENT_MAX_BUCKETS. The scan answers "did the rate
 * drop somewhere in the last four hours" (its long windows still see an incident an hour after it ended); this
 * answers "is it still down now", which is what resolving and re-triggering must ask.
 */
export interface RecentChange {
  relativeChange: number;
  buckets: number;
  expected: number;
}

const RECENT_MIN_EXPECTED = 400;
const RECENT_MIN_BUCKETS = 5;
const RECENT_MAX_BUCKETS = 60;

export function recentChange(observed: ArrayLike<number>, expected: ArrayLike<number>, direction: 'drop' | 'increase'): RecentChange {
  let o = 0, e = 0, k = 0;
  for (let i = observed.length - 1; i >= 0 && k < RECENT_MAX_BUCKETS; i--) {
    k++;
    const ei = expected[i]!;
    if (!(ei > 0)) continue;
    o += observed[i]!;
    e += ei;
    if (e >= RECENT_MIN_EXPECTED && k >= RECENT_MIN_BUCKETS) break;
  }
  const rel = e > 0 ? (direction === 'drop' ? (e - o) / e : (o - e) / e) : 0;
  return { relativeChange: rel, buckets: k, expected: e };
}

export interface RuleLook {
  rule: AlertRuleDef;
  funnel: FunnelDef;
  reader: SeriesReader;
  /** End of the newest complete bucket (bucket aligned). */
  evalTo: number;
  /** G by age in buckets for this rule's cohort metric (undefined = not learned); ignored for other metrics. */
  completeness?: readonly (number | undefined)[];
  /** Per series key (alertKey), the start of the span an active alert is about: its baseline is frozen before it. */
  frozenBefore?: ReadonlyMap<string, number>;
  /** Caches that survive between looks (one per rule). */
  memory: RuleMemory;
  /** Segment values to evaluate per dimension; default: reader.values(), capped at `maxValuesPerDimension`. */
  maxValuesPerDimension?: number;
  /** Series evaluated even if their value has no recent traffic (alerts still open on them must get to resolve). */
  extraSegments?: readonly SegmentRef[];
}

/** Per-rule caches: seasonal slot rates per 15-minute block, noise estimates. */
export class RuleMemory {
  readonly slots = new Map<string, SlotEstimate>();
  readonly noise = new Map<string, { at: number; model: NoiseModel }>();
  readonly levels = new Map<string, { key: number; observed: number; expected: number }>();
  /** Drops cache entries for blocks before `t`. */
  prune(t: number): void {
    for (const [k, v] of this.slots) if (v.block < t) this.slots.delete(k);
  }
}

interface SlotEstimate {
  block: number;
  weeks: (Counts | null)[];
  /** volume per fine bucket of the slot, per week (step_volume rules). */
  volumes: (number | null)[];
}

/** Which counts a binomial metric reads from a bucket. */
interface Extractor {
  trials(b: BucketView): number;
  successes(b: BucketView): number;
  /** Cohort metrics mature with the conversion window; ratios are final once the bucket is. */
  cohort: boolean;
}

function stepIndex(funnel: FunnelDef, name: string): number {
  const i = funnel.steps.findIndex((s) => s.name === name);
  if (i < 0) throw new Error(`funnel ${funnel.name} has no step ${name}`);
  return i;
}

function extractor(rule: AlertRuleDef, funnel: FunnelDef): Extractor | null {
  const m = rule.metric;
  if (m.kind === 'cohort_conversion') {
    const f = stepIndex(funnel, m.from), t = stepIndex(funnel, m.to);
    return { trials: (b) => b.cohort[f] ?? 0, successes: (b) => Math.min(b.cohort[t] ?? 0, b.cohort[f] ?? 0), cohort: true };
  }
  if (m.kind === 'ratio_conversion') {
    const f = stepIndex(funnel, m.from), t = stepIndex(funnel, m.to);
    // Same-window ratio: more completions than starts in a minute happens (lag); clamp so the likelihood is defined.
    return { trials: (b) => b.volume[f] ?? 0, successes: (b) => Math.min(b.volume[t] ?? 0, b.volume[f] ?? 0), cohort: false };
  }
  return null;
}

/** Buckets a cohort needs before it is final: conversion window + lateness + the bucket itself. */
export function matureAgeBuckets(funnel: FunnelDef): number {
  return Math.ceil((funnel.conversionWindowMs + funnel.allowedLatenessMs) / funnel.bucketMs) + 1;
}

/** The series the rule evaluates: the funnel, then each value of each segment dimension. */
export function ruleSeries(rule: AlertRuleDef, reader: SeriesReader, maxValues = 40, extra: readonly SegmentRef[] = []): (SegmentRef | null)[] {
  const out: (SegmentRef | null)[] = [null];
  if (rule.metric.kind === 'step_duration') return out; // durations are recorded funnel-wide only
  const seen = new Set<string>();
  for (const d of rule.segments) {
    for (const v of reader.values(d).slice(0, maxValues)) {
      seen.add(alertKey(rule.name, { dimension: d, value: v }));
      out.push({ dimension: d, value: v });
    }
  }
  for (const s of extra) {
    if (rule.segments.includes(s.dimension) && !seen.has(alertKey(rule.name, s))) out.push(s);
  }
  return out;
}

export function evaluateRule(look: RuleLook): SeriesResult[] {
  const { rule, reader } = look;
  const series = ruleSeries(rule, reader, look.maxValuesPerDimension, look.extraSegments);
  // The rule's page budget covers all its series: half to the funnel-wide series (the drop that matters most),
  // half split over the segment values (Bonferroni). Each share is rounded down to a power of √2: thresholds are
  // computed once per distinct budget (detect/thresholds.ts calibrates them), so the number of segment values
  // drifting by one must not create a new budget every minute. Rounding down keeps the rule within its budget.
  const segCount = series.length - 1;
  const overallBudget = quantizeBudget(segCount > 0 ? rule.falseAlarmsPerWeek / 2 : rule.falseAlarmsPerWeek);
  const budget = segCount > 0 ? quantizeBudget(rule.falseAlarmsPerWeek / 2 / segCount) : overallBudget;
  look.memory.prune(look.evalTo - WEEK * (rule.baseline.kind === 'seasonal' ? rule.baseline.weeks + 1 : 1));
  if (rule.metric.kind === 'step_volume') return series.map((seg) => evaluateVolume(look, seg, seg ? budget : overallBudget));
  if (rule.metric.kind === 'step_duration') return series.map((seg) => evaluateDuration(look, seg, seg ? budget : overallBudget));
  const ex = extractor(rule, look.funnel)!;
  // Baselines of the segment values first: the funnel-wide series may need them for the mix-shift adjustment.
  const perSeg = new Map<string, SegSeries>();
  const results: SeriesResult[] = [];
  const scratch = new Map<string, NoiseRows>();
  for (const seg of series.slice(1)) {
    const r = evaluateBinomial(look, seg, budget, ex, null, scratch);
    perSeg.set(alertKey(rule.name, seg), { rates: r.rates, starts: r.starts });
    results.push(r.result);
  }
  let mix: MixAdjust | null = null;
  if (rule.mixShift === 'ignore' && rule.segments.length > 0) {
    const dim = rule.segments[0]!;
    mix = { segs: series.filter((s): s is SegmentRef => s !== null && s.dimension === dim), series: perSeg };
  }
  results.unshift(evaluateBinomial(look, null, overallBudget, ex, mix, scratch).result);
  return results;
}

/** The largest power of √2 not above `b`. */
export function quantizeBudget(b: number): number {
  const k = Math.floor(Math.log(b) / Math.log(Math.SQRT2) + 1e-9);
  return Math.pow(Math.SQRT2, k);
}

/**
 * Calibrates, for every (bucket width, resolve_after) pair the rule set's detectors will ask for, the scan
 * thresholds (detect/thresholds.ts: about a second of simulation per pair, then cached for the process). Called
 * when a rule set is loaded, so the cost lands at start-up (before readiness) or at the reload, instead of on the
 * first evaluation tick a minute later, where it held up that tick and ingest (same thread) for about a second.
 * The budget does not matter here: the simulated calibration depends only on the windows and resolve_after.
 */
export function warmDetectors(funnels: readonly FunnelDef[], rules: readonly AlertRuleDef[]): void {
  const bucketOf = new Map(funnels.map((f) => [f.name, f.bucketMs]));
  for (const rule of rules) {
    const b = bucketOf.get(rule.funnel);
    if (b === undefined) continue;
    // Ratio and cohort rules pass their resolve_after; the volume and duration detectors use the default.
    scanThresholds({ falseAlarmsPerWeek: 1, stepMinutes: b / MINUTE, resolveAfterMinutes: rule.resolveAfterMs / MINUTE });
    scanThresholds({ falseAlarmsPerWeek: 1, stepMinutes: b / MINUTE });
  }
}

interface SegSeries {
  rates: Float64Array;
  /** Trials per scan bucket as the segment's own series used them (young unlearned buckets are 0). */
  starts: Float64Array;
}

interface MixAdjust {
  segs: SegmentRef[];
  series: Map<string, SegSeries>;
}

/** Baseline rate per scan bucket (NaN: unknown), the estimate the newest bucket used, and the baseline label. */
interface Rates {
  rates: Float64Array;
  newest: BaselineEstimate;
  label: SeriesResult['baseline'];
}

function evaluateBinomial(look: RuleLook, seg: SegmentRef | null, budget: number, ex: Extractor, mix: MixAdjust | null,
  scratch: Map<string, NoiseRows>):
  { result: SeriesResult; rates: Float64Array; starts: Float64Array } {
  const { rule, funnel, reader, evalTo } = look;
  const b = funnel.bucketMs;
  const n = SCAN_BUCKETS;
  const first = evalTo - n * b;
  const key = alertKey(rule.name, seg);
  const frozen = look.frozenBefore?.get(key);
  const starts = new Float64Array(n);
  const conv = new Float64Array(n);
  const comp = new Float64Array(n).fill(1);
  const mature = matureAgeBuckets(funnel);
  let unlearned = 0;
  for (let i = 0; i < n; i++) {
    const v = reader.fine(first + i * b, seg);
    if (!v) continue;
    const age = n - 1 - i;
    if (ex.cohort && age < mature) {
      const g = look.completeness?.[age];
      if (g === undefined || !(g > 0)) {
        if (ex.trials(v) > 0) unlearned++;
        continue; // left out: starts 0 means "no data" to the detector
      }
      comp[i] = g;
    }
    starts[i] = ex.trials(v);
    conv[i] = ex.successes(v);
  }
  const base = baselineRates(look, seg, ex, frozen);
  const rates = base.rates;
  let expected: Float64Array = rates;
  if (mix) {
    // Risk adjustment: what the funnel would convert at if every segment value converted at its own baseline.
    expected = new Float64Array(n);
    const segs = mix.segs.map((sg) => mix.series.get(alertKey(rule.name, sg))).filter((x): x is SegSeries => x !== undefined);
    for (let i = 0; i < n; i++) {
      let s = 0, e = 0;
      for (const sg of segs) {
        const r = sg.rates[i]!;
        if (!(r > 0)) continue;
        const t = sg.starts[i]!;
        s += t;
        e += t * r;
      }
      const total = starts[i]! > 0 ? starts[i]! : 0;
      // Values without a baseline (new ones) keep the funnel-wide rate for their share.
      expected[i] = total > 0 && s > 0 ? (e + Math.max(0, total - s) * (rates[i]! || e / s)) / Math.max(total, s) : rates[i]!;
    }
  }
  const noise = noiseFor(look, seg, ex, key, mix, scratch);
  const expConv = new Float64Array(n);
  for (let i = 0; i < n; i++) expConv[i] = starts[i]! * (expected[i]! || 0) * comp[i]!;
  const recent = recentChange(conv, expConv, rule.direction);
  const detection = detectChange({
    series: { starts, conversions: conv, expectedRate: expected, completeness: comp },
    drop: rule.minChange,
    direction: rule.direction,
    baselineRelVariance: Number.isFinite(base.newest.relVariance) ? base.newest.relVariance : 0,
    noise,
    falseAlarmsPerWeek: budget,
    stepMinutes: b / MINUTE,
    minVolume: rule.minVolume,
    resolveAfterMinutes: rule.resolveAfterMs / MINUTE,
  });
  if (!Number.isFinite(base.newest.rate)) {
    detection.state = 'insufficient';
    detection.reason = 'no baseline: no mature history for this series yet';
  }
  return {
    result: {
      rule: rule.name, segment: seg, detection, baseline: base.label, noise,
      onset: detection.onsetIndex === null ? null : first + detection.onsetIndex * b,
      unlearnedYoung: unlearned, recent,
    },
    rates, starts,
  };
}

/** Whether a bucket's cohort counts are final at `evalTo`. */
function isMature(funnel: FunnelDef, start: number, evalTo: number, cohort: boolean): boolean {
  return !cohort || start + funnel.bucketMs * matureAgeBuckets(funnel) <= evalTo;
}

/**
 * Expected rate per scan bucket. Trailing: ratio of sums over the rule's span of mature buckets, ending an hour
 * (or the maturity delay, if longer) before `evalTo`, or at the frozen onset. Seasonal: per 15-minute block, the
 * slot counts of each past week (trimmed and pooled in detect/baseline.ts) times the level factor; with fewer weeks
 * than asked, the trailing fallback.
 */
function baselineRates(look: RuleLook, seg: SegmentRef | null, ex: Extractor, frozen: number | undefined): Rates {
  const { rule, funnel, evalTo } = look;
  const n = SCAN_BUCKETS;
  const b = funnel.bucketMs;
  const first = evalTo - n * b;
  const gap = Math.max(HOUR, b * matureAgeBuckets(funnel));
  const end = Math.min(frozen ?? Infinity, evalTo - gap);
  const rates = new Float64Array(n);
  if (rule.baseline.kind === 'trailing') {
    const est = trailing(look, seg, ex, end, rule.baseline.windowMs, 0);
    rates.fill(est.rate);
    return { rates, newest: est, label: { kind: 'trailing' } };
  }
  const weeks = rule.baseline.weeks;
  const slot = slotEstimate(look, seg, ex, Math.floor((evalTo - b) / look.reader.rollupMs) * look.reader.rollupMs);
  const have = slot.weeks.filter((w) => w !== null && w.starts > 0).length;
  if (have < weeks) {
    const est = trailing(look, seg, ex, end, FALLBACK_TRAILING_MS, FALLBACK_DRIFT_REL_VAR);
    rates.fill(est.rate);
    return {
      rates, newest: est,
      label: { kind: 'trailing', fallback: `seasonal baseline needs ${weeks} week(s) of history, ${have} available: using a ${FALLBACK_TRAILING_MS / HOUR}h trailing baseline with wider uncertainty` },
    };
  }
  const levelEnd = Math.min(frozen ?? Infinity, evalTo - LEVEL_GAP_MS);
  const level = levelInputs(look, seg, ex, levelEnd);
  let newest: BaselineEstimate | null = null;
  let lastBlock = NaN;
  let est: BaselineEstimate | null = null;
  for (let i = 0; i < n; i++) {
    const start = first + i * b;
    const block = Math.floor(start / look.reader.rollupMs) * look.reader.rollupMs;
    if (block !== lastBlock) {
      est = seasonalBaseline({ weeks: slotEstimate(look, seg, ex, block).weeks, weeksWanted: weeks, level });
      lastBlock = block;
    }
    rates[i] = est!.rate;
    newest = est;
  }
  return { rates, newest: newest!, label: { kind: 'seasonal', weeksUsed: newest!.weeksUsed, level: newest!.level } };
}

function trailing(look: RuleLook, seg: SegmentRef | null, ex: Extractor, end: number, spanMs: number, drift: number): BaselineEstimate {
  const b = look.funnel.bucketMs;
  const history: Counts[] = [];
  const alignedEnd = Math.floor(end / b) * b;
  for (let t = alignedEnd - Math.floor(spanMs / b) * b; t < alignedEnd; t += b) {
    if (!isMature(look.funnel, t, look.evalTo, ex.cohort)) continue;
    const v = look.reader.fine(t, seg);
    history.push(v ? { starts: ex.trials(v), conversions: ex.successes(v) } : { starts: 0, conversions: 0 });
  }
  return trailingBaseline({ history, windowSteps: history.length, driftRelVariance: drift });
}

/** The same-slot counts of each past week for the 15-minute block starting at `block` (cached: history is final). */
function slotEstimate(look: RuleLook, seg: SegmentRef | null, ex: Extractor, block: number): SlotEstimate {
  const ck = `${alertKey('', seg)}@${block}`;
  const hit = look.memory.slots.get(ck);
  if (hit) return hit;
  const r = look.reader.rollupMs;
  const weeksWanted = look.rule.baseline.kind === 'seasonal' ? look.rule.baseline.weeks : 0;
  const weeks: (Counts | null)[] = [];
  const volumes: (number | null)[] = [];
  for (let w = 1; w <= weeksWanted; w++) {
    let s = 0, c = 0, vol = 0, seen = 0;
    const from = block - w * WEEK - SLOT_HALF_WIDTH_MS;
    const to = block - w * WEEK + r + SLOT_HALF_WIDTH_MS;
    for (let t = Math.ceil(from / r) * r; t < to; t += r) {
      const v = look.reader.rollup(t, seg);
      if (!v) continue;
      seen++;
      s += ex.trials(v);
      c += ex.successes(v);
      vol += v.volume[0] ?? 0;
    }
    weeks.push(seen > 0 && s > 0 ? { starts: s, conversions: c } : null);
    volumes.push(seen > 0 ? vol / ((seen * r) / look.funnel.bucketMs) : null);
  }
  const est: SlotEstimate = { block, weeks, volumes };
  look.memory.slots.set(ck, est);
  return est;
}

/** Observed vs seasonal-expected conversions over the level span (recomputed once per 15-minute block). */
function levelInputs(look: RuleLook, seg: SegmentRef | null, ex: Extractor, end: number): { observed: number; expected: number } {
  const { funnel, reader } = look;
  const b = funnel.bucketMs;
  const alignedEnd = Math.floor(end / reader.rollupMs) * reader.rollupMs;
  const key = alertKey('', seg);
  const hit = look.memory.levels.get(key);
  if (hit && hit.key === alignedEnd) return hit;
  let observed = 0, expected = 0;
  let lastBlock = NaN;
  let rate = NaN;
  for (let t = alignedEnd - LEVEL_SPAN_MS; t < alignedEnd; t += b) {
    if (!isMature(funnel, t, look.evalTo, ex.cohort)) continue;
    const v = reader.fine(t, seg);
    if (!v) continue;
    const block = Math.floor(t / reader.rollupMs) * reader.rollupMs;
    if (block !== lastBlock) {
      const slot = slotEstimate(look, seg, ex, block);
      let s = 0, c = 0;
      for (const w of slot.weeks) if (w) { s += w.starts; c += w.conversions; }
      rate = s > 0 ? c / s : NaN;
      lastBlock = block;
    }
    if (!(rate > 0)) continue;
    observed += ex.successes(v);
    expected += ex.trials(v) * rate;
  }
  const out = { key: alignedEnd, observed, expected };
  look.memory.levels.set(key, out);
  return out;
}

/**
 * τ² (fast and slow) from the last 12 hours of mature buckets, as residuals against the rule's own baseline
 * (seasonal: each block's slot rate × the level factor; trailing: the two hours before each hour), so the noise the
 * detector allows for is the noise around the expectation it actually uses. With the mix-shift adjustment that
 * expectation is Σ starts_v·p_v over the first segment dimension, and so is the residual's (riskAdjustedResidual):
 * measured against the funnel-wide slot rate, a campaign surge's low-converting traffic was fitted as hours of
 * slow and persistent noise (3× the wobble's variance for the 12 hours after each surge, measured on bench:detect),
 * which made the next half day's real drops look like noise. Refreshed hourly.
 */
function noiseFor(look: RuleLook, seg: SegmentRef | null, ex: Extractor, key: string, mix: MixAdjust | null, scratch: Map<string, NoiseRows>): NoiseModel {
  const hit = look.memory.noise.get(key);
  if (hit && look.evalTo - hit.at < NOISE_REFRESH_MS) return hit.model;
  const own = noiseRows(look, seg, ex, scratch);
  let rows = own;
  if (mix) {
    // The funnel-wide expectation is risk-adjusted by segment: measure the noise around that expectation.
    const parts = mix.segs.map((sg) => noiseRows(look, sg, ex, scratch));
    rows = own.map((r, i) => (r ? riskAdjustedResidual(r, parts.map((p) => p[i] ?? null)) : null));
  }
  const residuals = rows.filter((r): r is Residual => r !== null && r.expectedRate > 0 && r.expectedRate < 1);
  const model = residuals.length >= 120 ? estimateNoiseProfile(residuals) : { tau2: 0, tau2Slow: 0 };
  look.memory.noise.set(key, { at: look.evalTo, model });
  return model;
}

/**
 * One row per bucket of the noise span (the last NOISE_SPAN_MS of mature buckets, ending on an hour): the counts
 * and the baseline rate the series would have used (NaN if none), null where the bucket has no trials. Kept in
 * `scratch` for the tick, so the funnel-wide fit reuses the rows its segment values just read.
 */
function noiseRows(look: RuleLook, seg: SegmentRef | null, ex: Extractor, scratch: Map<string, NoiseRows>): NoiseRows {
  const { funnel, reader, evalTo } = look;
  const b = funnel.bucketMs;
  const end = Math.floor((evalTo - b * matureAgeBuckets(funnel)) / HOUR) * HOUR;
  const ck = `${alertKey('', seg)}@${end}`;
  const cached = scratch.get(ck);
  if (cached) return cached;
  const rows: NoiseRows = [];
  const seasonal = look.rule.baseline.kind === 'seasonal';
  let level = 1;
  if (seasonal) {
    const li = levelInputs(look, seg, ex, evalTo - LEVEL_GAP_MS);
    level = (li.observed + 200) / (li.expected + 200);
  }
  const hourly: { s: number; c: number }[] = [];
  const first = end - NOISE_SPAN_MS - 2 * HOUR;
  for (let h = first; h < end; h += HOUR) {
    let s = 0, c = 0;
    for (let t = h; t < h + HOUR; t += b) {
      const v = reader.fine(t, seg);
      if (v) { s += ex.trials(v); c += ex.successes(v); }
    }
    hourly.push({ s, c });
  }
  let seasonalOk = seasonal;
  for (let k = 2; k < hourly.length; k++) {
    const h = first + k * HOUR;
    let p = NaN, pVar = 0;
    const local = hourly[k - 1]!.s + hourly[k - 2]!.s;
    const localRate = local > 0 ? (hourly[k - 1]!.c + hourly[k - 2]!.c) / local : NaN;
    for (let t = h; t < h + HOUR; t += b) {
      if (seasonalOk && (t - h) % look.reader.rollupMs === 0) {
        const slot = slotEstimate(look, seg, ex, Math.floor(t / look.reader.rollupMs) * look.reader.rollupMs);
        const est = seasonalBaseline({ weeks: slot.weeks, weeksWanted: slot.weeks.length });
        p = est.rate * level;
        pVar = est.variance * level * level;
        if (!(p > 0)) seasonalOk = false; // too little history for this series: fall back to the local rate
      }
      const rate = seasonalOk ? p : localRate;
      const v = reader.fine(t, seg);
      // The baseline's own variance goes with each residual, so the fit does not count baseline error as noise
      // (the detector adds it separately).
      const baselineVariance = seasonalOk ? pVar : (localRate * (1 - localRate)) / local;
      rows.push(v && ex.trials(v) > 0 ? { starts: ex.trials(v), conversions: ex.successes(v), expectedRate: rate, baselineVariance } : null);
    }
  }
  scratch.set(ck, rows);
  return rows;
}

type NoiseRows = (Residual | null)[];

/** step_volume: counts against the seasonal (or trailing) volume of the same bucket, Poisson family. */
function evaluateVolume(look: RuleLook, seg: SegmentRef | null, budget: number): SeriesResult {
  const { rule, funnel, reader, evalTo } = look;
  if (rule.metric.kind !== 'step_volume') throw new Error('not a volume rule');
  const step = stepIndex(funnel, rule.metric.step);
  const b = funnel.bucketMs;
  const n = SCAN_BUCKETS;
  const first = evalTo - n * b;
  const observed = new Float64Array(n);
  const expected = new Float64Array(n);
  const ex: Extractor = { trials: (v) => v.volume[step] ?? 0, successes: () => 0, cohort: false };
  for (let i = 0; i < n; i++) observed[i] = reader.fine(first + i * b, seg)?.volume[step] ?? 0;
  let label: SeriesResult['baseline'] = { kind: 'trailing' };
  const gapEnd = Math.min(look.frozenBefore?.get(alertKey(rule.name, seg)) ?? Infinity, evalTo - HOUR);
  const trailingMean = (spanMs: number): number => {
    let sum = 0, k = 0;
    for (let t = Math.floor(gapEnd / b) * b - spanMs; t < Math.floor(gapEnd / b) * b; t += b) {
      sum += reader.fine(t, seg)?.volume[step] ?? 0;
      k++;
    }
    return k > 0 ? sum / k : NaN;
  };
  let relVar = 0;
  if (rule.baseline.kind === 'seasonal') {
    const weeks = rule.baseline.weeks;
    const blockNow = Math.floor((evalTo - b) / reader.rollupMs) * reader.rollupMs;
    const have = slotEstimate(look, seg, { ...ex, trials: (v) => v.volume[step] ?? 0 }, blockNow).volumes.filter((x) => x !== null).length;
    if (have >= weeks) {
      let lastBlock = NaN, mu = NaN;
      for (let i = 0; i < n; i++) {
        const block = Math.floor((first + i * b) / reader.rollupMs) * reader.rollupMs;
        if (block !== lastBlock) {
          mu = trimmedMean(slotEstimate(look, seg, ex, block).volumes);
          lastBlock = block;
        }
        expected[i] = mu;
      }
      label = { kind: 'seasonal', weeksUsed: have };
      relVar = 0.05 ** 2 / Math.max(1, have - 1);
    } else {
      expected.fill(trailingMean(FALLBACK_TRAILING_MS));
      label = { kind: 'trailing', fallback: `seasonal baseline needs ${weeks} week(s) of history, ${have} available: using a ${FALLBACK_TRAILING_MS / HOUR}h trailing baseline with wider uncertainty` };
      relVar = 0.1 ** 2;
    }
  } else {
    expected.fill(trailingMean(rule.baseline.windowMs));
  }
  const detection = detectVolumeChange({
    observed, expected, direction: rule.direction, change: rule.minChange,
    // Traffic wobbles far beyond Poisson; 10 % relative per bucket is a conservative default until estimated.
    noise: { tau2: 0.1 ** 2, tau2Slow: 0.05 ** 2 }, baselineRelVariance: relVar,
    falseAlarmsPerWeek: budget, stepMinutes: b / MINUTE, minVolume: rule.minVolume,
  });
  if (!(expected[n - 1]! > 0)) {
    detection.state = 'insufficient';
    detection.reason = 'no baseline volume yet';
  }
  return {
    rule: rule.name, segment: seg, detection, baseline: label, noise: { tau2: 0.01, tau2Slow: 0.0025 }, onset: null, unlearnedYoung: 0,
    recent: recentChange(observed, expected, rule.direction),
  };
}

function trimmedMean(xs: readonly (number | null)[]): number {
  const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  // Robust to one bad week: with three or more, drop the one farthest from the median.
  if (v.length >= 3) {
    const med = v[Math.floor(v.length / 2)]!;
    const far = Math.abs(v[0]! - med) > Math.abs(v[v.length - 1]! - med) ? 0 : v.length - 1;
    v.splice(far, 1);
  }
  return v.reduce((a, x) => a + x, 0) / v.length;
}

/**
 * step_duration: "p95 got 30 % slower" as a binomial test on the share of durations above the baseline's
 * percentile D. If every duration grew by the factor 1 + c, the share above D would become the baseline share
 * above D/(1 + c); that share's relative increase is the change the scan looks for.
 */
function evaluateDuration(look: RuleLook, seg: SegmentRef | null, budget: number): SeriesResult {
  const { rule, funnel, reader, evalTo } = look;
  if (rule.metric.kind !== 'step_duration') throw new Error('not a duration rule');
  const from = stepIndex(funnel, rule.metric.from);
  const to = stepIndex(funnel, rule.metric.to);
  const pct = rule.metric.percentile;
  const b = funnel.bucketMs;
  const n = SCAN_BUCKETS;
  const first = evalTo - n * b;
  const empty = (reason: string): SeriesResult => ({
    rule: rule.name, segment: seg, baseline: { kind: 'trailing' }, noise: { tau2: 0, tau2Slow: 0 }, onset: null, unlearnedYoung: 0,
    recent: { relativeChange: 0, buckets: 0, expected: 0 },
    detection: {
      state: 'insufficient', statistic: 0, threshold: NaN, pValue: 1, chanceRatePerWeek: Infinity, observedRate: NaN,
      expectedRate: NaN, relativeChange: 0, observed: 0, expected: 0, volume: 0, windowMinutes: 0, onsetIndex: null, onsetStepsAgo: null, reason,
    },
  });
  if (to !== from + 1) return empty('durations are recorded between adjacent steps only');
  const spanMs = rule.baseline.kind === 'trailing' ? rule.baseline.windowMs : FALLBACK_TRAILING_MS;
  const end = Math.min(look.frozenBefore?.get(alertKey(rule.name, seg)) ?? Infinity, evalTo - HOUR);
  const base = new Map<number, number>();
  let total = 0;
  for (let t = Math.floor(end / b) * b - spanMs; t < Math.floor(end / b) * b; t += b) {
    for (const [k, c] of Object.entries(reader.durations(t, to) ?? {})) {
      base.set(Number(k), (base.get(Number(k)) ?? 0) + c);
      total += c;
    }
  }
  if (total < rule.minVolume) return empty(`fewer than min_volume (${rule.minVolume}) durations in the baseline span`);
  const sorted = [...base.entries()].sort((a, b2) => a[0] - b2[0]);
  // D: the bucket holding the percentile; "above D" = strictly higher buckets.
  let acc = 0, dIdx = sorted[sorted.length - 1]![0];
  for (const [k, c] of sorted) { acc += c; if (acc >= pct * total) { dIdx = k; break; } }
  const above = (h: ReadonlyMap<number, number> | Readonly<Record<number, number>>, thr: number): number => {
    let s = 0;
    for (const [k, c] of h instanceof Map ? h.entries() : Object.entries(h)) if (Number(k) > thr) s += Number(c);
    return s;
  };
  const q0 = above(base, dIdx) / total;
  const shifted = bucketValue(dIdx) / (1 + rule.minChange);
  let shiftedIdx = 0;
  for (const [k] of sorted) if (bucketValue(k) <= shifted) shiftedIdx = k;
  const q1 = above(base, shiftedIdx) / total;
  if (!(q0 > 0 && q0 < 1)) return empty('baseline durations have no spread above the percentile');
  const change = Math.min(0.99, Math.max(0.05, q1 / q0 - 1));
  const trials = new Float64Array(n), succ = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const h = reader.durations(first + i * b, to);
    if (!h) continue;
    let c = 0;
    for (const x of Object.values(h)) c += x;
    trials[i] = c;
    succ[i] = above(h, dIdx);
  }
  const detection = detectChange({
    series: { starts: trials, conversions: succ, expectedRate: q0 }, drop: change, direction: 'increase',
    falseAlarmsPerWeek: budget, stepMinutes: b / MINUTE, minVolume: rule.minVolume, noise: { tau2: 0, tau2Slow: 0 },
  });
  return {
    rule: rule.name, segment: seg, detection, baseline: { kind: 'trailing' }, noise: { tau2: 0, tau2Slow: 0 },
    onset: detection.onsetIndex === null ? null : first + detection.onsetIndex * b, unlearnedYoung: 0,
    recent: recentChange(succ, Float64Array.from(trials, (t) => t * q0), 'increase'),
  };
}

/**
 * The drill-down of a conversion alert (issue: deploys and drill-down): for each dimension, each value's completions
 * over the incident's span [from, evalTo) against its *own* baseline rate times its current starts, its share of
 * the deficit, and whether its rate moved or only its share of traffic (detect/drilldown.ts). Computed on the
 * funnel-wide marginals the window store keeps per dimension (it keeps no cross-dimension counts), so a drop in
 * android shows as "platform: android carries 91% of the deficit" whatever series fired. The span's traffic is
 * compared with the same length just before it for the mix analysis. Undefined for volume and duration rules.
 */
export function drilldownFor(look: RuleLook, from: number, dimensions: readonly string[]): DrilldownSummary | undefined {
  const { rule, funnel, reader, evalTo } = look;
  const ex = extractor(rule, funnel);
  if (!ex) return undefined;
  const b = funnel.bucketMs;
  const n = SCAN_BUCKETS;
  const first = evalTo - n * b;
  const start = Math.max(first, Math.floor(from / b) * b);
  if (start >= evalTo) return undefined;
  const span = Math.max(evalTo - start, 30 * MINUTE);
  const mature = matureAgeBuckets(funnel);
  const results: DrilldownResult[] = [];
  for (const dimension of dimensions) {
    const segments: SegmentInput[] = [];
    for (const value of reader.values(dimension).slice(0, look.maxValuesPerDimension ?? 40)) {
      const seg: SegmentRef = { dimension, value };
      // The value's own baseline, frozen before the span like the alert's.
      const rates = baselineRates(look, seg, ex, start).rates;
      let s = 0, c = 0, sg = 0, e = 0;
      for (let t = start; t < evalTo; t += b) {
        const v = reader.fine(t, seg);
        if (!v) continue;
        const i = (t - first) / b;
        const age = n - 1 - i;
        let g = 1;
        if (ex.cohort && age < mature) {
          const learned = look.completeness?.[age];
          if (learned === undefined || !(learned > 0)) continue; // as in the detector: young and unlearned is left out
          g = learned;
        }
        const trials = ex.trials(v);
        const r = rates[i] ?? NaN;
        if (!(r > 0)) continue;
        s += trials;
        c += ex.successes(v);
        sg += trials * g;
        e += trials * r * g;
      }
      if (!(s > 0) || !(sg > 0)) continue;
      let baseStarts = 0;
      for (let t = start - span; t < start; t += b) {
        const v = reader.fine(t, seg);
        if (v) baseStarts += ex.trials(v);
      }
      segments.push({ value, current: { starts: s, conversions: c }, baselineRate: e / sg, completeness: sg / s, baselineStarts: baseStarts });
    }
    if (segments.length > 0) results.push(drilldown({ dimension, segments, drop: rule.minChange }));
  }
  return summarizeDrilldown(results);
}

/** Many dimensions' drill-downs as one statement: the dimension that localises the deficit best speaks first. */
export function summarizeDrilldown(results: readonly DrilldownResult[]): DrilldownSummary | undefined {
  if (results.length === 0) return undefined;
  const localised = results.filter((r) => r.classification === 'localised')
    .sort((a, b) => (b.top[0]?.deficitShare ?? 0) - (a.top[0]?.deficitShare ?? 0));
  const ordered = [...localised, ...results.filter((r) => r.classification !== 'localised')];
  const classification: DrilldownSummary['classification'] = localised.length > 0 ? 'localised'
    : results.some((r) => r.classification === 'global') ? 'global'
      : results.some((r) => r.classification === 'mix-shift') ? 'mix-shift' : 'no-deficit';
  const pct = (x: number) => `${Math.round(100 * x)}%`;
  let summary: string;
  if (classification === 'localised') {
    const best = localised[0]!;
    // A share above 100% means the other values did slightly better than their baselines: "all of it" reads right.
    summary = best.top.map((f) => `${best.dimension}=${f.value} carries ${pct(Math.min(1, f.deficitShare))} of the deficit (its rate ${f.relativeDrop >= 0 ? 'fell' : 'rose'} ${pct(Math.abs(f.relativeDrop))})`).join('; ');
  } else if (classification === 'global') {
    summary = `no single segment explains it: the drop is spread across the values of ${results.map((r) => r.dimension).join(', ')}`;
  } else if (classification === 'mix-shift') {
    summary = `mix shift: ${results.find((r) => r.classification === 'mix-shift')!.summary.replace(/^[^:]+: mix shift — /, '')}`;
  } else {
    summary = 'no value converts worse than its own baseline';
  }
  return {
    classification, summary,
    dimensions: ordered.map((r) => ({
      dimension: r.dimension,
      top: (r.top.length > 0 ? r.top : r.segments.slice(0, 3)).map((f) => ({
        value: f.value, expected: round1(f.expected), observed: f.observed, deficitShare: round3(f.deficitShare), rateChanged: f.rateChanged,
      })),
    })),
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
