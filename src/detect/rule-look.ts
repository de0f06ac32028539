/**
 * What one evaluation of one rule looks at (a "look"): the rule, its funnel, the series reader, where the data ends,
 * and the caches that survive between looks; and what it yields per series. Shared by the binomial, volume and
 * duration evaluations (evaluate-rule.ts), the baselines and noise they read, and the drill-down.
 */
import type { Counts } from './counts.js';
import type { Detection, NoiseModel } from './scan-detector.js';
import type { FunnelDef } from '../funnels/funnel.js';
import type { AlertRuleDef, MetricDef } from '../rules/rule.js';
import type { RecentChange } from './recent-change.js';
import type { BucketView, SegmentRef, SeriesReader } from './series-reader.js';

export const SCAN_BUCKETS = 240;
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const WEEK = 7 * 24 * HOUR;

export interface SeriesKey {
  rule: string;
  segment: SegmentRef | null;
}

export interface SeriesResult extends SeriesKey {
  detection: Detection;
  /** `weeksAvailable`: on a seasonal rule's trailing fallback, the weeks of history it found (fewer than asked). */
  baseline: {
    kind: 'trailing' | 'seasonal';
    fallback?: string;
    weeksUsed?: number;
    weeksAvailable?: number;
    level?: number;
  };
  noise: NoiseModel;
  /** Epoch ms of the estimated onset (breach only). */
  onset: number | null;
  /** Cohort buckets left out because their completeness is not learned yet. */
  unlearnedYoung: number;
  /** The newest data alone (recentChange): whether an alert is still bad now, not somewhere in the last 4 hours. */
  recent: RecentChange;
  /** What the scan ran at, for `explain`'s smallest detectable change (detectability.ts); absent: not a scan. */
  scan?: { budget: number; baselineRelVariance: number; resolveAfterMinutes?: number };
}

export interface RuleLook {
  rule: AlertRuleDef;
  funnel: FunnelDef;
  reader: SeriesReader;
  /** End of the newest complete bucket (bucket aligned). */
  evalTo: number;
  /** G by age in buckets for this rule's cohort metric (undefined = not learned); ignored for other metrics. */
  completeness?: readonly (number | undefined)[];
  /** Per series (segmentKey), the start of the span an active alert is about: its baseline is frozen before it. */
  frozenBefore?: ReadonlyMap<string, number>;
  /** Per series (segmentKey), the data time its last incident resolved at: the scan looks only at data after it. */
  scanFrom?: ReadonlyMap<string, number>;
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

export interface SlotEstimate {
  block: number;
  weeks: (Counts | null)[];
  /** Volume of the rule's step per fine bucket of the slot, per week; null for a week without data (step_volume). */
  volumes: (number | null)[];
}

/** Which counts a binomial metric reads from a bucket. */
export interface Extractor {
  trials(b: BucketView): number;
  successes(b: BucketView): number;
  /** Cohort metrics mature with the conversion window; ratios are final once the bucket is. */
  cohort: boolean;
}

export function stepIndex(funnel: FunnelDef, name: string): number {
  const i = funnel.steps.findIndex((s) => s.name === name);
  if (i < 0) throw new Error(`funnel ${funnel.name} has no step ${name}`);
  return i;
}

export function extractor(rule: AlertRuleDef, funnel: FunnelDef): Extractor | null {
  return metricExtractor(rule.metric, funnel);
}

/** The counts of a conversion metric (a rule's, or a canary gate's); null for volume and duration metrics. */
export function metricExtractor(m: MetricDef, funnel: FunnelDef): Extractor | null {
  if (m.kind === 'cohort_conversion') {
    const f = stepIndex(funnel, m.from),
      t = stepIndex(funnel, m.to);
    return {
      trials: (b) => b.cohort[f] ?? 0,
      successes: (b) => Math.min(b.cohort[t] ?? 0, b.cohort[f] ?? 0),
      cohort: true,
    };
  }
  if (m.kind === 'ratio_conversion') {
    const f = stepIndex(funnel, m.from),
      t = stepIndex(funnel, m.to);
    // Same-window ratio: more completions than starts in a minute happens (lag); clamp so the likelihood is defined.
    return {
      trials: (b) => b.volume[f] ?? 0,
      successes: (b) => Math.min(b.volume[t] ?? 0, b.volume[f] ?? 0),
      cohort: false,
    };
  }
  return null;
}

/** Buckets a cohort needs before it is final: conversion window + lateness + the bucket itself. */
export function matureAgeBuckets(funnel: FunnelDef): number {
  return Math.ceil((funnel.conversionWindowMs + funnel.allowedLatenessMs) / funnel.bucketMs) + 1;
}

/**
 * The longest scan window (in buckets) a series may page on: all of them, or after a resolve only the buckets since
 * (at least one), so a new page rests on new evidence (hysteresis: one incident, one firing span).
 */
export function scanCap(look: RuleLook, key: string): number | undefined {
  const from = look.scanFrom?.get(key);
  if (from === undefined || !(from > look.evalTo - SCAN_BUCKETS * look.funnel.bucketMs)) return undefined;
  return Math.max(1, Math.floor((look.evalTo - from) / look.funnel.bucketMs));
}

/** Too few starts since the last resolve to score a window is no new evidence: ok, not "insufficient data". */
export function afterResolve(d: Detection): void {
  if (d.state === 'insufficient') {
    d.state = 'ok';
    d.reason = 'too little data since the last resolve to judge a new incident';
  }
}

/** Whether a bucket's cohort counts are final at `evalTo`. */
export function isMature(funnel: FunnelDef, start: number, evalTo: number, cohort: boolean): boolean {
  return !cohort || start + funnel.bucketMs * matureAgeBuckets(funnel) <= evalTo;
}

export interface SegSeries {
  rates: Float64Array;
  /** Trials per scan bucket as the segment's own series used them (young unlearned buckets are 0). */
  starts: Float64Array;
}

export interface MixAdjust {
  segs: SegmentRef[];
  series: Map<string, SegSeries>;
}
