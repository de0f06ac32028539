/**
 * The completeness curve G(age) of a cohort metric, learned from what the evaluator itself sees (statistics.md
 * §5.2, detect/lag.ts).
 *
 * Why learned here and not from the duration histograms: what matters is how much of a cohort's eventual
 * conversions the evaluator has *seen* at a given age, which is conversion lag and ingestion lateness together,
 * as the data actually arrives. The evaluator looks at every young cohort bucket once a minute, so it records
 * (starts, conversions) at each age; when the bucket is mature it knows the final counts. Then
 *     G(a) = (Σ C_a / Σ S_a) / (Σ C_final / Σ S_final)   over the buckets seen at age a,
 * a ratio of rates, so starts that arrive late (both counts thinned alike) do not bias it. Sums decay
 * exponentially (half-life `halfLifeBuckets`), so a change in how fast customers pay is followed within hours.
 *
 * Until an age has `minFinal` final conversions behind it, G there is unknown and the evaluator leaves such young
 * cohorts out (it waits for them to mature) and says so in the evidence: slower, never wrong.
 *
 * Pure and serialisable: the evaluator keeps one tracker per (funnel, from, to) in memory and persists `toJSON()`
 * so the next leader starts with the curve.
 */

import type { FunnelDef } from '../funnels/funnel.js';
import { matureAgeBuckets, SCAN_BUCKETS } from '../detect/rule-look.js';

export interface CompletenessOptions {
  /** Ages tracked, in buckets (the scan's longest window is enough). */
  maxAge: number;
  /** A bucket is final once it is this many buckets old (conversion window + lateness, in buckets). */
  matureAge: number;
  halfLifeBuckets?: number;
  minFinal?: number;
}

export interface CompletenessState {
  v: 1;
  /** Per age: Σ C_a, Σ S_a, Σ C_final, Σ S_final (decayed). */
  sums: number[][];
}

interface Pending {
  /** starts, conversions at each recorded age (NaN = not seen at that age). */
  s: Float64Array;
  c: Float64Array;
}

export class CompletenessTracker {
  private readonly sums: Float64Array[];
  private readonly pending = new Map<number, Pending>();
  private readonly decay: number;
  private readonly minFinal: number;
  private cachedCurve: (number | undefined)[] | null = null;

  constructor(
    private readonly o: CompletenessOptions,
    state?: CompletenessState,
  ) {
    this.decay = Math.pow(0.5, 1 / (o.halfLifeBuckets ?? 720));
    this.minFinal = o.minFinal ?? 200;
    this.sums = Array.from({ length: o.maxAge + 1 }, (_, a) => {
      const row = state?.v === 1 ? state.sums[a] : undefined;
      return Float64Array.from(row && row.length === 4 ? row : [0, 0, 0, 0]);
    });
  }

  /**
   * Records bucket `start` as seen at `age` buckets (0 = the newest complete bucket). Ages beyond maxAge are not
   * recorded; a bucket seen at age ≥ matureAge is final and closes its record.
   */
  observe(start: number, age: number, starts: number, conversions: number): void {
    if (age < 0) return;
    if (age >= this.o.matureAge) {
      const p = this.pending.get(start);
      if (p) {
        this.finalise(p, starts, conversions);
        this.pending.delete(start);
      }
      return;
    }
    if (age > this.o.maxAge) return;
    let p = this.pending.get(start);
    if (!p) {
      const n = Math.min(this.o.maxAge, this.o.matureAge) + 1;
      p = { s: new Float64Array(n).fill(NaN), c: new Float64Array(n).fill(NaN) };
      this.pending.set(start, p);
    }
    if (age < p.s.length) {
      p.s[age] = starts;
      p.c[age] = conversions;
    }
  }

  /** Drops records of buckets older than `oldest` that never got their final look (gaps, restarts). */
  forgetBefore(oldest: number): void {
    for (const k of this.pending.keys()) if (k < oldest) this.pending.delete(k);
  }

  private finalise(p: Pending, finalStarts: number, finalConv: number): void {
    if (!(finalStarts > 0)) return;
    for (let a = 0; a < p.s.length; a++) {
      const s = p.s[a]!;
      if (Number.isNaN(s)) continue;
      const row = this.sums[a]!;
      for (let k = 0; k < 4; k++) row[k]! *= this.decay;
      row[0]! += p.c[a]!;
      row[1]! += s;
      row[2]! += finalConv;
      row[3]! += finalStarts;
    }
    this.cachedCurve = null;
  }

  /** G at each age (undefined where not yet learned); ages ≥ matureAge are 1. */
  curve(): (number | undefined)[] {
    if (this.cachedCurve) return this.cachedCurve;
    const out: (number | undefined)[] = [];
    let prev = 0;
    for (let a = 0; a <= this.o.maxAge; a++) {
      if (a >= this.o.matureAge) {
        out.push(1);
        continue;
      }
      const [ca, sa, cf, sf] = this.sums[a]!;
      if (!(cf! >= this.minFinal && sa! > 0 && sf! > 0)) {
        out.push(undefined);
        continue;
      }
      // Monotone and within (0, 1]: completions only accumulate with age.
      const g = Math.min(1, Math.max(prev, ca! / sa! / (cf! / sf!)));
      out.push(g);
      prev = g;
    }
    this.cachedCurve = out;
    return out;
  }

  toJSON(): CompletenessState {
    return { v: 1, sums: this.sums.map((r) => Array.from(r)) };
  }
}

/** The key of a cohort metric's curve (evaluator memory and the persisted snapshot, completeness-store.ts). */
export function completenessKey(funnel: string, from: string, to: string): string {
  return `${funnel}|${from}|${to}`;
}

/** A funnel's tracker with the ages the evaluator records (the scan's span, up to maturity). */
export function funnelCompletenessTracker(funnel: FunnelDef, state?: CompletenessState): CompletenessTracker {
  const mature = matureAgeBuckets(funnel);
  return new CompletenessTracker({ maxAge: Math.min(SCAN_BUCKETS, mature), matureAge: mature }, state);
}
