/**
 * Root-cause drill-down for a conversion deficit, one dimension at a time (statistics.md §5.1, §6.2).
 *
 * For each value of the dimension: expected completions E_i = S_i·p0_i from the value's *own* baseline rate and
 * its current starts, the deficit Δ_i = E_i − C_i, its share of the total deficit (Adtributor's explanatory
 * power), its relative drop, and a z with the value's own variance S·p0·q0 + τ²·S². Ranking is by deficit in
 * completions, not by relative drop: the smallest segment otherwise always "has the biggest drop".
 *
 * Rate vs mix (Kitagawa 1955, symmetric form): Δp = Σ(w1−w0)(p0_i+p1_i)/2 [mix] + Σ(p1_i−p0_i)(w0_i+w1_i)/2 [rate].
 * A campaign that brings low-intent traffic lowers the overall rate through the mix term while no value's rate
 * moves: that is reported as a mix shift, not as a drop (the detector pages on the risk-adjusted rate effect).
 *
 * "No single segment explains it": the relative drops are homogeneous across values (Q = Σ(r_i − r̄)²/Var(r_i),
 * χ²_{k−1}, not rejected at 1 %), or no value carries half the deficit, or no value stands out from the rest — then
 * the cause is global (site-wide release, payment provider for everyone, tracking) and naming a segment would
 * mislead. A value stands out when its relative drop exceeds that of all other values together with significance
 * (contrast z ≥ zCritical, variances from both sides) and by a margin that ordinary drift between values cannot
 * make: at least `drop`, and at least half its own drop (the rest fell less than half as much). Without the margin,
 * a funnel-wide drop named its largest value whenever the values' rates drifted a few percent apart: the
 * homogeneity test alone rejects on that drift at high traffic, and the largest value carries half the deficit.
 */
import type { Counts } from './counts.js';
import { normSf } from './normal.js';

export interface SegmentInput {
  value: string;
  /** Starts and completions over the alert window (mature or completeness-corrected). */
  current: Counts;
  /** The value's own baseline conversion rate. */
  baselineRate: number;
  /** Starts the value had in the baseline period (for traffic shares); omit to skip the mix analysis. */
  baselineStarts?: number;
  /** Completeness of the window's cohorts (expected completions are scaled by it). Default 1. */
  completeness?: number;
}

export interface DrilldownInput {
  dimension: string;
  segments: readonly SegmentInput[];
  /** Extra-binomial variance of a value's rate over the window. Default 0. */
  tau2?: number;
  /** z above which a value's rate counts as changed. Default 3. */
  zCritical?: number;
  /** Relative drop (e.g. the rule's 0.05) below half of which a value's rate counts as steady. Default 0.05. */
  drop?: number;
}

export interface SegmentFinding {
  value: string;
  starts: number;
  observed: number;
  expected: number;
  /** Expected − observed completions (positive = missing orders). */
  deficit: number;
  /** deficit / total deficit (can be negative for values doing better than expected). */
  deficitShare: number;
  /** deficit / expected. */
  relativeDrop: number;
  z: number;
  rateChanged: boolean;
  trafficShare: number;
  baselineTrafficShare: number | null;
  /** Share moved by more than 20 % relative (and 1 pp absolute). */
  shareMoved: boolean;
  /** Relative drop of all the other values together (their deficit / their expected). */
  othersRelativeDrop: number;
  /** z of (relativeDrop − othersRelativeDrop). */
  contrastZ: number;
}

export type DrilldownClassification = 'localised' | 'global' | 'mix-shift' | 'no-deficit';

export interface DrilldownResult {
  dimension: string;
  classification: DrilldownClassification;
  /** One line for the alert. */
  summary: string;
  totalExpected: number;
  totalObserved: number;
  totalDeficit: number;
  /** z of the total (risk-adjusted) deficit. */
  z: number;
  /** Values that explain most of the deficit (each ≥ 10 %, together ≥ 67 %, at most 3); empty if none does. */
  top: SegmentFinding[];
  noSingleSegment: boolean;
  /** p-value of the homogeneity test of relative drops across values (small = localised). */
  homogeneityPValue: number;
  /** Kitagawa decomposition of the overall rate change; null without baseline shares. */
  mixEffect: number | null;
  rateEffect: number | null;
  segments: SegmentFinding[];
}

export function drilldown(input: DrilldownInput): DrilldownResult {
  const zCrit = input.zCritical ?? 3;
  const drop = input.drop ?? 0.05;
  const tau2 = input.tau2 ?? 0;
  const segs = input.segments.filter((s) => s.current.starts > 0 && s.baselineRate > 0);
  const totalStarts = segs.reduce((a, s) => a + s.current.starts, 0);
  const haveShares = segs.length > 0 && segs.every((s) => s.baselineStarts !== undefined);
  const baseStarts = haveShares ? segs.reduce((a, s) => a + (s.baselineStarts ?? 0), 0) : 0;

  let totalE = 0,
    totalO = 0,
    totalV = 0;
  const rows = segs.map((s) => {
    const g = s.completeness ?? 1;
    const p = s.baselineRate * g;
    const e = s.current.starts * p;
    const v = s.current.starts * p * (1 - p) + tau2 * (s.current.starts * g) ** 2;
    totalE += e;
    totalO += s.current.conversions;
    totalV += v;
    return { s, e, v };
  });
  const totalDeficit = totalE - totalO;
  const z = totalV > 0 ? totalDeficit / Math.sqrt(totalV) : 0;

  const findings: SegmentFinding[] = rows.map(({ s, e, v }) => {
    const deficit = e - s.current.conversions;
    const eRest = totalE - e;
    const vRest = totalV - v;
    const restRel = eRest > 0 ? (eRest - (totalO - s.current.conversions)) / eRest : 0;
    const varDiff = (e > 0 ? v / (e * e) : 0) + (eRest > 0 ? vRest / (eRest * eRest) : 0);
    const zi = v > 0 ? deficit / Math.sqrt(v) : 0;
    const share = totalStarts > 0 ? s.current.starts / totalStarts : 0;
    const base = haveShares && baseStarts > 0 ? (s.baselineStarts ?? 0) / baseStarts : null;
    const rel = e > 0 ? deficit / e : 0;
    return {
      value: s.value,
      starts: s.current.starts,
      observed: s.current.conversions,
      expected: e,
      deficit,
      deficitShare: totalDeficit !== 0 ? deficit / totalDeficit : 0,
      relativeDrop: rel,
      z: zi,
      rateChanged: Math.abs(zi) >= zCrit && Math.abs(rel) >= drop / 2,
      trafficShare: share,
      baselineTrafficShare: base,
      shareMoved: base !== null && Math.abs(share - base) > Math.max(0.01, 0.2 * base),
      othersRelativeDrop: restRel,
      contrastZ: varDiff > 0 ? (rel - restRel) / Math.sqrt(varDiff) : 0,
    };
  });

  // Homogeneity of relative drops: Var(r_i) = v_i / e_i².
  const rBar = totalE > 0 ? totalDeficit / totalE : 0;
  let q = 0;
  let k = 0;
  for (const f of findings) {
    const r = rows.find((x) => x.s.value === f.value)!;
    if (r.e > 0 && r.v > 0) {
      q += ((f.relativeDrop - rBar) ** 2 * r.e * r.e) / r.v;
      k++;
    }
  }
  const homogeneityPValue = k >= 2 ? chiSquareSf(q, k - 1) : 1;

  // Kitagawa decomposition on rates (observed rates are completeness-corrected so lag does not fake a drop).
  let mixEffect: number | null = null;
  let rateEffect: number | null = null;
  if (haveShares && baseStarts > 0) {
    mixEffect = 0;
    rateEffect = 0;
    for (const { s, e } of rows) {
      const g = s.completeness ?? 1;
      const p0 = s.baselineRate;
      const p1 = e > 0 ? s.current.conversions / (s.current.starts * g) : p0;
      const w0 = (s.baselineStarts ?? 0) / baseStarts;
      const w1 = s.current.starts / totalStarts;
      mixEffect += ((w1 - w0) * (p0 + p1)) / 2;
      rateEffect += ((p1 - p0) * (w0 + w1)) / 2;
    }
  }

  const sorted = [...findings].sort((a, b) => b.deficit - a.deficit);
  const top: SegmentFinding[] = [];
  if (totalDeficit > 0) {
    let cum = 0;
    for (const f of sorted) {
      if (top.length >= 3 || f.deficitShare < 0.1) break;
      top.push(f);
      cum += f.deficitShare;
      if (cum >= 0.67) break;
    }
    if (cum < 0.67) top.length = 0;
  }
  // Only values that stand out from the rest are named (see the module comment).
  const standsOut = (f: SegmentFinding) =>
    f.contrastZ >= zCrit && f.relativeDrop - f.othersRelativeDrop >= Math.max(drop, f.relativeDrop / 2);
  if (!top.every(standsOut)) top.length = 0;
  const anyRateChanged = findings.some((f) => f.rateChanged && f.relativeDrop > 0);
  const noSingleSegment = top.length === 0 || homogeneityPValue > 0.01 || (top[0]?.deficitShare ?? 0) < 0.5;

  let classification: DrilldownClassification;
  let summary: string;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  if (z >= zCrit && anyRateChanged) {
    if (noSingleSegment) {
      classification = 'global';
      summary =
        `${input.dimension}: no single segment explains it — ` +
        `the drop (${pct(rBar)} of expected orders) is spread across values`;
    } else {
      classification = 'localised';
      summary =
        `${input.dimension}: ` +
        top.map((f) => `${f.value} (${pct(f.deficitShare)} of the deficit, rate ${pct(-f.relativeDrop)})`).join(', ');
    }
  } else if (mixEffect !== null && mixEffect < 0 && findings.some((f) => f.shareMoved) && !anyRateChanged) {
    classification = 'mix-shift';
    const moved = findings
      .filter((f) => f.shareMoved)
      .map((f) => `${f.value} ${pct(f.baselineTrafficShare ?? 0)}→${pct(f.trafficShare)}`);
    summary =
      `${input.dimension}: mix shift — rates steady within every value, traffic share moved (${moved.join(', ')}); ` +
      `overall rate ${(100 * mixEffect).toFixed(2)} pp from mix`;
  } else {
    classification = 'no-deficit';
    summary = `${input.dimension}: no significant deficit against the values' own baselines`;
  }
  return {
    dimension: input.dimension,
    classification,
    summary,
    totalExpected: totalE,
    totalObserved: totalO,
    totalDeficit,
    z,
    top: classification === 'localised' ? top : [],
    noSingleSegment,
    homogeneityPValue,
    mixEffect,
    rateEffect,
    segments: sorted,
  };
}

/** Upper tail of χ²_k by the Wilson–Hilferty cube-root normal approximation (ample for a 1 % decision). */
export function chiSquareSf(x: number, k: number): number {
  if (x <= 0) return 1;
  const a = 2 / (9 * k);
  const z = (Math.cbrt(x / k) - (1 - a)) / Math.sqrt(a);
  return normSf(z);
}
