/**
 * Window queries only the tests (and benchmarks) ask: per-bucket step volume, per-value volume, ratio and cohort
 * conversion, duration percentiles, the partitions' counters. Built on the production reader's primitives
 * (src/windows/window-reader.ts), so they read exactly what the evaluator would, but kept out of the production
 * classes, which hold only what the daemon uses.
 */
import type { FunnelDef } from '../../src/funnels/funnel.js';
import { decodeDimension, decodeTotals, zeros } from '../../src/windows/aggregate.js';
import { histogramPercentile, type DurationHistogram } from '../../src/windows/histogram.js';
import { fineStarts } from '../../src/windows/key-layout.js';
import type { RedisWindowStore } from '../../src/windows/redis-window-store.js';
import type { RedisWindowReader } from '../../src/windows/window-reader.js';
import type { CoveredWindow, StepCounts, WindowQuery } from '../../src/windows/window-store.js';

export interface VolumeBucket {
  start: number;
  steps: StepCounts;
}

export interface VolumeSeries extends CoveredWindow {
  bucketMs: number;
  buckets: VolumeBucket[];
}

export interface DimensionVolume extends CoveredWindow {
  dimension: string;
  /** Value (or 'other', or '(none)' for a missing attribute) → per-step volume. */
  values: Record<string, StepCounts>;
}

export interface RatioConversion extends CoveredWindow {
  fromStep: number;
  toStep: number;
  denominator: number;
  numerator: number;
  /** numerator / denominator; undefined when the denominator is 0. */
  ratio: number | undefined;
  /** Present when a dimension was asked for. */
  byValue?: Record<string, { denominator: number; numerator: number; ratio: number | undefined }>;
}

export interface CohortCounts {
  /** Entities that entered in the window. */
  entered: number;
  /** Of those, how many reached each step within the conversion window (index 0 = entered). */
  reached: StepCounts;
  /** Entities of the window whose conversion window was still open at `asOf` (their counts can still grow). */
  young: number;
  /** Entered/reached restricted to entry buckets whose window had fully closed at `asOf`. */
  matureEntered: number;
  matureReached: StepCounts;
}

export interface CohortConversion extends CoveredWindow, CohortCounts {
  asOf: number;
  byValue?: Record<string, CohortCounts>;
}

export interface DurationStats extends CoveredWindow {
  step: number;
  count: number;
  p50: number | undefined;
  p90: number | undefined;
  p95: number | undefined;
  p99: number | undefined;
  /** Log-scale histogram: bucket index → count (histogram.ts explains the buckets). */
  histogram: Record<number, number>;
}

/** Cumulative per-partition counters since the partition's state was created. */
export interface PartitionCounters {
  lateDropped: number;
  unmatched: number;
  noEntity: number;
  duplicates: number;
  outOfOrder: number;
  noEntry: number;
  expired: number;
  /** Cohort increments into sealed entry buckets, not applied (the steps themselves counted). */
  lateCohort: number;
}

/** One entry bucket's cohort: who entered in [start, start + widthMs) and how far they got. */
export interface CohortBucket {
  start: number;
  widthMs: number;
  reached: StepCounts;
}

/**
 * Sums entry buckets into cohort counts. A bucket is mature at `asOf` when its last possible entrant's window
 * (entry ≤ start + width, plus conversionWindowMs) had closed; everyone else in it is still `young`.
 */
export function cohortCounts(
  buckets: readonly CohortBucket[],
  nSteps: number,
  conversionWindowMs: number,
  asOf: number,
): CohortCounts {
  const out: CohortCounts = {
    entered: 0,
    reached: zeros(nSteps),
    young: 0,
    matureEntered: 0,
    matureReached: zeros(nSteps),
  };
  for (const b of buckets) {
    const entered = b.reached[0] ?? 0;
    out.entered += entered;
    for (let s = 0; s < nSteps; s++) out.reached[s]! += b.reached[s] ?? 0;
    if (b.start + b.widthMs + conversionWindowMs <= asOf) {
      out.matureEntered += entered;
      for (let s = 0; s < nSteps; s++) out.matureReached[s]! += b.reached[s] ?? 0;
    } else {
      out.young += entered;
    }
  }
  return out;
}

export function ratio(numerator: number, denominator: number): number | undefined {
  return denominator > 0 ? numerator / denominator : undefined;
}

export class WindowQueries {
  constructor(private readonly reader: RedisWindowReader) {}

  async counters(def: FunnelDef): Promise<PartitionCounters> {
    const out: PartitionCounters = {
      lateDropped: 0,
      unmatched: 0,
      noEntity: 0,
      duplicates: 0,
      outOfOrder: 0,
      noEntry: 0,
      expired: 0,
      lateCohort: 0,
    };
    const n = (v: string | undefined) => (v === undefined ? 0 : Number(v));
    for (const m of (await this.reader.metas(def)).values()) {
      out.lateDropped += n(m.late);
      out.unmatched += n(m.unm);
      out.noEntity += n(m.noent);
      out.duplicates += n(m.dup);
      out.outOfOrder += n(m.ooo);
      out.noEntry += n(m.noentry);
      out.expired += n(m.exp);
      out.lateCohort += n(m.latecoh);
    }
    return out;
  }

  async stepVolume(q: WindowQuery): Promise<VolumeSeries> {
    const def = q.funnel;
    const starts = fineStarts(def, q.from, q.to);
    const [per] = await this.reader.consistent(def, (v) =>
      this.reader.readBuckets(
        def,
        v,
        starts.map((start) => ({ res: 'f', start, widthMs: def.bucketMs })),
        ['t'],
        `funnel ${def.name}: step volume`,
      ),
    );
    return {
      from: starts[0] ?? q.from,
      to: starts.length > 0 ? starts[starts.length - 1]! + def.bucketMs : q.from,
      bucketMs: def.bucketMs,
      buckets: starts.map((start, i) => ({ start, steps: decodeTotals(per![i]!, def.steps.length).volume })),
    };
  }

  async dimensionVolume(q: WindowQuery & { dimension: string }): Promise<DimensionVolume> {
    const def = q.funnel;
    const i = this.reader.dimIndex(def, q.dimension);
    const [{ plan, fields }, names] = await Promise.all([
      this.reader.consistent(def, async (v) => {
        const plan = this.reader.plan(q, v);
        return {
          plan,
          fields: await this.reader.sumPlan(def, v, plan, `d${i}`, `funnel ${def.name}: dimension ${q.dimension}`),
        };
      }),
      this.reader.names(def, q.dimension),
    ]);
    return {
      from: plan.from,
      to: plan.to,
      dimension: q.dimension,
      values: decodeDimension(fields, def.steps.length, names).volume,
    };
  }

  async ratioConversion(
    q: WindowQuery & { fromStep: number; toStep: number; dimension?: string },
  ): Promise<RatioConversion> {
    const def = q.funnel;
    this.reader.checkStep(def, q.fromStep);
    this.reader.checkStep(def, q.toStep);
    const totals = await this.reader.stepTotals(q);
    const denominator = totals.volume[q.fromStep]!;
    const numerator = totals.volume[q.toStep]!;
    const out: RatioConversion = {
      from: totals.from,
      to: totals.to,
      fromStep: q.fromStep,
      toStep: q.toStep,
      denominator,
      numerator,
      ratio: ratio(numerator, denominator),
    };
    if (q.dimension !== undefined) {
      const dv = await this.dimensionVolume({ funnel: def, from: q.from, to: q.to, dimension: q.dimension });
      out.byValue = {};
      for (const [value, vol] of Object.entries(dv.values)) {
        const den = vol[q.fromStep]!;
        const num = vol[q.toStep]!;
        out.byValue[value] = { denominator: den, numerator: num, ratio: ratio(num, den) };
      }
    }
    return out;
  }

  async cohortConversion(q: WindowQuery & { asOf: number; dimension?: string }): Promise<CohortConversion> {
    const def = q.funnel;
    const nSteps = def.steps.length;
    const dimI = q.dimension === undefined ? undefined : this.reader.dimIndex(def, q.dimension);
    const groups = dimI === undefined ? ['t'] : ['t', `d${dimI}`];
    const { plan, per } = await this.reader.consistent(def, async (v) => {
      const plan = this.reader.plan(q, v, true);
      return {
        plan,
        per: await this.reader.readBuckets(def, v, this.reader.planBuckets(plan), groups, `funnel ${def.name}: cohort`),
      };
    });
    const buckets = this.reader.planBuckets(plan);
    const perBucket = per[0]!;
    const overall: CohortBucket[] = buckets.map((b, i) => ({
      ...b,
      reached: decodeTotals(perBucket[i]!, nSteps).cohort,
    }));
    const out: CohortConversion = {
      from: plan.from,
      to: plan.to,
      asOf: q.asOf,
      ...cohortCounts(overall, nSteps, def.conversionWindowMs, q.asOf),
    };
    if (q.dimension !== undefined) {
      const perDim = per[1]!;
      const names = await this.reader.names(def, q.dimension);
      const byValueBuckets = new Map<string, CohortBucket[]>();
      buckets.forEach((b, j) => {
        for (const [value, reached] of Object.entries(decodeDimension(perDim[j]!, nSteps, names).cohort)) {
          const list = byValueBuckets.get(value) ?? [];
          list.push({ ...b, reached });
          byValueBuckets.set(value, list);
        }
      });
      const byValue: Record<string, CohortCounts> = {};
      for (const [value, list] of byValueBuckets)
        byValue[value] = cohortCounts(list, nSteps, def.conversionWindowMs, q.asOf);
      out.byValue = byValue;
    }
    return out;
  }

  async durations(q: WindowQuery & { step: number }): Promise<DurationStats> {
    const def = q.funnel;
    this.reader.checkStep(def, q.step);
    const { plan, fields } = await this.reader.consistent(def, async (v) => {
      const plan = this.reader.plan(q, v);
      return { plan, fields: await this.reader.sumPlan(def, v, plan, `h${q.step}`, `funnel ${def.name}: durations`) };
    });
    const h: DurationHistogram = new Map(fields);
    let count = 0;
    for (const n of h.values()) count += n;
    return {
      from: plan.from,
      to: plan.to,
      step: q.step,
      count,
      p50: histogramPercentile(h, 0.5),
      p90: histogramPercentile(h, 0.9),
      p95: histogramPercentile(h, 0.95),
      p99: histogramPercentile(h, 0.99),
      histogram: Object.fromEntries(h),
    };
  }
}

/** The test-only queries over a store's reader. */
export function windowQueries(store: RedisWindowStore): WindowQueries {
  return new WindowQueries(store.reader);
}
