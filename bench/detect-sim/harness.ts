/**
 * Detector-quality harness: runs the scan detector minute by minute over simulated weeks with no incident (false
 * alarms per week) and over injected-drop episodes (delay per drop size against the CUSUM limit), and the two
 * reference rules on the same streams.
 *
 * How it stays fast: cohort arrivals are drawn once; baselines are computed once per cohort from prefix sums
 * (seasonal: same minute-of-week ± 30 min in each of 4 past weeks, trimmed, × a level factor over the 6 hours
 * before the 4-hour span under test); references use prefix sums of arrivals. Each look costs one pass over the
 * 240 newest cohorts plus O(windows).
 *
 * Accounting:
 * - The daemon's look: a tick `lookDelaySec` (10 s) after the minute boundary T sees cohorts up to T−1 (the minute
 *   that just ended is the newest complete one by the watermark; the stream's starts carry no ingest delay), each
 *   with the completions that have *arrived* by then, and their completeness G(age) estimated from a history week.
 *   Its level factor leaves out minutes of labelled incidents (the daemon knows when a rule was firing).
 * - Paging: a detector pages when its condition starts to hold (`for` 0 for the scan, 5m for the references, as
 *   written), and resolves after 10 minutes without it (the rules' default `resolve_after`); 'insufficient'
 *   neither fires nor resolves.
 * - False alarms: pages outside labelled incidents (+2 h). Campaign surges are *not* incidents.
 * - Delay: T_page + lookDelay − τ, τ = the start of the first affected cohort's minute. Episodes in which a detector
 *   was already firing at τ are excluded for that detector (`pre_alarmed`); not paging within the horizon is a miss.
 * - Limit: `cusumDelayLimit` per episode with n and p0 of the stream at the onset (mean of the first 30 min);
 *   `delay_ratio` = mean delay ÷ mean limit (detection.md's i.i.d. limit, as the issue defines it).
 *   `delay_ratio_model` uses the limit with the stream's own fast wobble (τ = fastSd). `delay_ratio_lag` uses
 *   `cusumDelayLimitLagged`: the same limit counting only the information that has arrived by each look (the
 *   stream's true visibility curve) — with a 2.5-minute mean lag the i.i.d. limit's 1-minute floor is out of
 *   reach for 10–20 % drops; `delay_ratio_lag_model` adds the fast wobble to that.
 */
import {
  cusumDelayLimit,
  cusumDelayLimitLagged,
  detectChange,
  drilldown,
  estimateCompleteness,
  estimateNoiseProfile,
  prometheusRatioCondition,
  seasonalBaseline,
  twoSigmaCondition,
  type Counts,
  type NoiseModel,
  type Residual,
} from '../../src/detect/index.js';
import { Rng } from './prng.js';
import { cohortArrivals, generateStream, MINUTES_PER_WEEK, type StreamConfig } from './stream.js';

export interface QualityOptions {
  stream?: Partial<StreamConfig>;
  /** Weeks before evaluation: 4 of seasonal history + 1 to estimate τ² and completeness. */
  warmupWeeks?: number;
  /** Weeks evaluated for false alarms (stream has warmup + these). */
  evalWeeks?: number;
  drop?: number;
  falseAlarmsPerWeek?: number;
  windows?: readonly number[];
  minVolume?: number;
  resolveAfter?: number;
  episodesPerSize?: number;
  dropSizes?: number[];
  segmentDrop?: { segment: string; size: number };
  belowHalfDrop?: number;
  /** Onsets are placed where expected traffic is in this range (starts/min). */
  onsetTraffic?: [number, number];
  seasonalWeeks?: number;
  slotHalfWidth?: number;
  levelMinutes?: number;
  /** Largest residual block for the noise fit (estimateNoiseProfile's default if unset). */
  noiseMaxBlock?: number;
  /** Relative-variance floor of the baseline (unmodelled error). */
  baselineRelVarianceFloor?: number;
  log?: (line: string) => void;
}

export interface DelayStats {
  n: number;
  detected: number;
  pre_alarmed: number;
  mean: number;
  median: number;
  p90: number;
  limit: number;
  limit_model: number;
  limit_lag: number;
  limit_lag_model: number;
}

export interface DetectorReport {
  fa_per_week: number;
  fa_count: number;
  fa_during_surges: number;
  delays: Record<string, DelayStats>;
  delay_ratio: Record<string, number>;
  segment_drop: DelayStats;
  below_half_paged: number;
}

export interface QualityReport {
  weeks: number;
  starts_per_min_at_onset: number;
  scan: DetectorReport & {
    delay_ratio_model: Record<string, number>;
    delay_ratio_lag: Record<string, number>;
    delay_ratio_lag_model: Record<string, number>;
    segment_named: number;
    onset_abs_err_min: number;
    /** Mean |error| and mean signed error (estimated − true onset, minutes) by episode kind. */
    onset_err_by_kind: Record<string, { abs: number; bias: number }>;
  };
  ref_prometheus: DetectorReport;
  ref_2sd: DetectorReport;
  tau2: NoiseModel;
  elapsed_ms: number;
}

class Pager {
  firing = false;
  private since = -1;
  private clear = 0;
  constructor(
    private readonly forSteps: number,
    private readonly resolveSteps: number,
  ) {}
  /** Returns true when this look starts a page. */
  step(cond: boolean | null, t: number, holdOnNull: boolean): boolean {
    if (cond === null && holdOnNull) return false;
    if (cond) {
      this.clear = 0;
      if (this.since < 0) this.since = t;
      if (!this.firing && t - this.since >= this.forSteps) {
        this.firing = true;
        return true;
      }
      return false;
    }
    this.since = -1;
    if (this.firing && ++this.clear >= this.resolveSteps) {
      this.firing = false;
      this.clear = 0;
    }
    return false;
  }
}

const WMAX_DEFAULT = 240;

export function runDetectionQuality(opts: QualityOptions = {}): QualityReport {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const warmup = opts.warmupWeeks ?? 5;
  const evalWeeks = opts.evalWeeks ?? 20;
  const drop = opts.drop ?? 0.05;
  const fapw = opts.falseAlarmsPerWeek ?? 1;
  const minVolume = opts.minVolume ?? 100;
  const resolveAfter = opts.resolveAfter ?? 10;
  const K = opts.seasonalWeeks ?? 4;
  const half = opts.slotHalfWidth ?? 30;
  const levelMin = opts.levelMinutes ?? 360;
  const windows = opts.windows;
  const wmax = windows ? Math.max(...windows) : WMAX_DEFAULT;
  const stream = generateStream({ ...opts.stream, weeks: warmup + evalWeeks });
  const { minutes, maxAge } = stream;
  const nSeg = stream.segments.length;
  const A = maxAge + 1;
  log(`generated ${stream.segments.length} segments × ${minutes} minutes in ${(performance.now() - t0).toFixed(0)} ms`);

  // Totals and prefix sums.
  const sTot = new Float64Array(minutes);
  const cTot = new Float64Array(minutes);
  for (let j = 0; j < nSeg; j++)
    for (let t = 0; t < minutes; t++) {
      sTot[t]! += stream.starts[j]![t]!;
      cTot[t]! += stream.finals[j]![t]!;
    }
  const prefix = (a: ArrayLike<number>) => {
    const p = new Float64Array(a.length + 1);
    for (let i = 0; i < a.length; i++) p[i + 1] = p[i]! + a[i]!;
    return p;
  };
  const pS = stream.starts.map(prefix);
  const pC = stream.finals.map(prefix);
  const pSTot = prefix(sTot);

  // Cohort arrivals (totals) and arrivals by look time for the reference rules.
  const cum = new Int32Array(minutes * A);
  const arr = new Float64Array(minutes + A + 1);
  const tmp = new Int32Array(A);
  for (let s = 0; s < minutes; s++) {
    for (let j = 0; j < nSeg; j++) {
      cohortArrivals(stream, s, j, stream.finals[j]![s]!, 0, tmp);
      let prev = 0;
      for (let k = 0; k < A; k++) {
        cum[s * A + k]! += tmp[k]!;
        arr[s + k + 1]! += tmp[k]! - prev;
        prev = tmp[k]!;
      }
    }
  }
  const pArr = prefix(arr);
  log(`arrivals drawn at ${(performance.now() - t0).toFixed(0)} ms`);

  // Per-cohort baselines: seasonal slot per segment, then a shared level factor.
  const slot = stream.segments.map(() => new Float64Array(minutes).fill(NaN));
  const slotRel = stream.segments.map(() => new Float64Array(minutes));
  const firstBase = (warmup - 1) * MINUTES_PER_WEEK;
  const weeksBuf: (Counts | null)[] = new Array(K).fill(null);
  for (let s = firstBase - levelMin - wmax - 1; s < minutes; s++) {
    if (s < 0) continue;
    for (let j = 0; j < nSeg; j++) {
      for (let w = 1; w <= K; w++) {
        const c = s - w * MINUTES_PER_WEEK;
        const lo = c - half,
          hi = c + half + 1;
        weeksBuf[w - 1] = lo < 0 ? null : { starts: pS[j]![hi]! - pS[j]![lo]!, conversions: pC[j]![hi]! - pC[j]![lo]! };
      }
      const b = seasonalBaseline({
        weeks: weeksBuf,
        weeksWanted: K,
        relVarianceFloor: opts.baselineRelVarianceFloor ?? 0,
      });
      slot[j]![s] = b.rate;
      slotRel[j]![s] = b.relVariance;
    }
  }
  // Labelled incidents (+ margins): the daemon knows when a rule was firing and keeps those minutes out of the
  // level factor; otherwise a 45-minute 30 % outage lowers the level by ~4 % for the next 6 hours.
  const inIncident = new Uint8Array(minutes);
  for (const i of stream.incidents)
    for (let t = Math.max(0, i.start - 60); t < Math.min(minutes, i.end + 120); t++) inIncident[t] = 1;
  const eSlot = new Float64Array(minutes);
  const cLevel = new Float64Array(minutes);
  for (let s = 0; s < minutes; s++) {
    if (inIncident[s]) continue;
    let e = 0;
    for (let j = 0; j < nSeg; j++) {
      const r = slot[j]![s]!;
      if (r > 0) e += stream.starts[j]![s]! * r;
    }
    eSlot[s] = e;
    cLevel[s] = cTot[s]!;
  }
  const pE = prefix(eSlot);
  const pCLevel = prefix(cLevel);
  const p0 = new Float64Array(minutes).fill(NaN);
  const relVar = new Float64Array(minutes);
  const p0Seg = stream.segments.map(() => new Float64Array(minutes).fill(NaN));
  const LEVEL_PRIOR = 200;
  for (let s = firstBase; s < minutes; s++) {
    const hi = s - wmax,
      lo = hi - levelMin;
    const eL = pE[hi]! - pE[lo]!;
    const level = (pCLevel[hi]! - pCLevel[lo]! + LEVEL_PRIOR) / (eL + LEVEL_PRIOR);
    let e = 0,
      v = 0;
    for (let j = 0; j < nSeg; j++) {
      const r = slot[j]![s]! * level;
      p0Seg[j]![s] = r;
      const ej = stream.starts[j]![s]! * r;
      if (ej > 0) {
        e += ej;
        v += ej * ej * slotRel[j]![s]!;
      }
    }
    p0[s] = sTot[s]! > 0 ? e / sTot[s]! : NaN;
    relVar[s] = (e > 0 ? v / (e * e) : 0) + 1 / (eL + LEVEL_PRIOR);
  }
  // Slot relative variance of the *total*: segment errors are independent, so the total's error averages over
  // cohorts too; the window's baseline error is that of the slot (±30 min) — use the newest cohort's.

  // Completeness curve and noise from the last warm-up week (mature cohorts only, outside incidents).
  const num = new Float64Array(A);
  let den = 0;
  for (let s = firstBase; s < firstBase + MINUTES_PER_WEEK; s++) {
    if (inIncident[s]) continue;
    for (let k = 0; k < A; k++) num[k]! += cum[s * A + k]!;
    den += cTot[s]!;
  }
  const G = estimateCompleteness([{ observedByAge: num, final: den }], maxAge);
  const noiseFor = (week: number): NoiseModel => {
    const res: Residual[] = [];
    for (let s = (week - 1) * MINUTES_PER_WEEK; s < week * MINUTES_PER_WEEK; s++) {
      if (inIncident[s] || !(p0[s]! > 0)) continue;
      res.push({
        starts: sTot[s]!,
        conversions: cTot[s]!,
        expectedRate: p0[s]!,
        baselineVariance: relVar[s]! * p0[s]! ** 2,
      });
    }
    return estimateNoiseProfile(res, opts.noiseMaxBlock ? { maxBlockSteps: opts.noiseMaxBlock } : {});
  };
  const noiseCache = new Map<number, NoiseModel>();
  const noiseOfWeek = (week: number): NoiseModel => {
    let m = noiseCache.get(week);
    if (!m) noiseCache.set(week, (m = noiseFor(week)));
    return m;
  };

  // Detector input buffers.
  const bS = new Float64Array(wmax),
    bC = new Float64Array(wmax),
    bP = new Float64Array(wmax),
    bG = new Float64Array(wmax);
  let noise: NoiseModel = noiseOfWeek(warmup);
  const firstNoise = noise;
  const scanAt = (T: number, conv: (s: number, k: number) => number) => {
    for (let i = 0; i < wmax; i++) {
      const s = T - wmax + i; // newest (i = wmax−1) is T−1, the minute that just ended
      const k = T - 1 - s;
      bS[i] = sTot[s]!;
      bC[i] = conv(s, k);
      bP[i] = p0[s]!;
      bG[i] = G[Math.min(k, maxAge)]!;
    }
    return detectChange({
      series: { starts: bS, conversions: bC, expectedRate: bP, completeness: bG },
      // The noise profile was fitted net of the baseline's stated variance, which the detector adds here.
      drop,
      noise,
      baselineRelVariance: relVar[T - 1]!,
      falseAlarmsPerWeek: fapw,
      minVolume,
      resolveAfterMinutes: resolveAfter,
      ...(windows ? { windows } : {}),
    });
  };
  const baseConv = (s: number, k: number) => cum[s * A + Math.min(k, maxAge)]!;
  const win = (p: Float64Array, a: number, b: number) => p[b]! - p[a]!;
  const promAt = (T: number, ar: (a: number, b: number) => number) =>
    prometheusRatioCondition(
      { starts: win(pSTot, T - 10, T), conversions: ar(T - 9, T + 1) },
      {
        starts: win(pSTot, T - 10 - MINUTES_PER_WEEK, T - MINUTES_PER_WEEK),
        conversions: win(pArr, T - 9 - MINUTES_PER_WEEK, T + 1 - MINUTES_PER_WEEK),
      },
    );
  const hist: Counts[] = new Array(24);
  const sdAt = (T: number, ar: (a: number, b: number) => number) => {
    for (let i = 0; i < 24; i++) {
      const e = T - 5 - 5 * i;
      hist[i] = { starts: win(pSTot, e - 5, e), conversions: ar(e - 4, e + 1) };
    }
    return twoSigmaCondition({ starts: win(pSTot, T - 5, T), conversions: ar(T - 4, T + 1) }, hist);
  };
  const baseAr = (a: number, b: number) => win(pArr, a, b);

  // ---- False alarms over the evaluation weeks ----
  const evalStart = warmup * MINUTES_PER_WEEK;
  const pagers = { scan: new Pager(0, resolveAfter), prom: new Pager(5, resolveAfter), sd: new Pager(5, resolveAfter) };
  const fa = { scan: 0, prom: 0, sd: 0 };
  const faSurge = { scan: 0, prom: 0, sd: 0 };
  const inSurge = new Uint8Array(minutes);
  for (const s of stream.surges) for (let t = s.start; t < Math.min(minutes, s.end + 30); t++) inSurge[t] = 1;
  for (let T = evalStart; T < minutes; T++) {
    if (T % MINUTES_PER_WEEK === 0) noise = noiseOfWeek(T / MINUTES_PER_WEEK);
    const d = scanAt(T, baseConv);
    const conds = {
      scan: d.state === 'insufficient' ? null : d.state === 'breach',
      prom: promAt(T, baseAr),
      sd: sdAt(T, baseAr),
    };
    for (const key of ['scan', 'prom', 'sd'] as const) {
      if (pagers[key].step(conds[key], T, key === 'scan') && !inIncident[T]) {
        fa[key]++;
        if (inSurge[T]) faSurge[key]++;
      }
    }
  }
  log(
    `false-alarm pass done at ${(performance.now() - t0).toFixed(0)} ms ` +
      `(scan ${fa.scan}, prometheus ${fa.prom}, 2sd ${fa.sd})`,
  );

  // ---- Injected-drop episodes ----
  const rng = new Rng(stream.config.seed, 0xe915);
  const [lo, hi] = opts.onsetTraffic ?? [900, 1100];
  const candidates: number[] = [];
  for (let t = evalStart + 300; t < minutes - 300; t++) {
    if (stream.expectedStarts[t]! >= lo && stream.expectedStarts[t]! <= hi && !inIncident[t]) candidates.push(t);
  }
  const nEp = opts.episodesPerSize ?? 150;
  const sizes = opts.dropSizes ?? [0.05, 0.1, 0.2, 0.5, 1];
  const segSpec = opts.segmentDrop ?? { segment: 'android', size: 0.5 };
  const segIdx = stream.segments.indexOf(segSpec.segment);
  const belowHalf = opts.belowHalfDrop ?? 0.02;
  const wobbleTau2 = stream.config.wobble.fastSd ** 2;
  noise = firstNoise;

  type EpKind = { label: string; size: number; segs: number[]; horizon: number };
  const kinds: EpKind[] = [
    ...sizes.map((d) => ({
      label: `${Math.round(d * 100)}%`,
      size: d,
      segs: stream.segments.map((_, j) => j),
      horizon: d <= 0.05 ? 120 : 60,
    })),
    { label: 'segment', size: segSpec.size, segs: [segIdx], horizon: 60 },
    { label: 'below_half', size: belowHalf, segs: stream.segments.map((_, j) => j), horizon: 240 },
  ];
  const results = new Map<
    string,
    {
      scan: number[];
      prom: number[];
      sd: number[];
      pre: { scan: number; prom: number; sd: number };
      limits: number[];
      limitsModel: number[];
      limitsLag: number[];
      limitsLagModel: number[];
      missed: { scan: number; prom: number; sd: number };
    }
  >();
  let named = 0,
    namedN = 0,
    onsetErr = 0,
    onsetN = 0;
  const onsetByKind: Record<string, number[]> = {};
  const lookDelay = stream.config.lookDelaySec / 60;
  const vis = Array.from(stream.visibility);
  const orig = new Int32Array(A),
    neu = new Int32Array(A);
  let epId = 0;
  for (const kind of kinds) {
    const r = {
      scan: [] as number[],
      prom: [] as number[],
      sd: [] as number[],
      pre: { scan: 0, prom: 0, sd: 0 },
      limits: [] as number[],
      limitsModel: [] as number[],
      limitsLag: [] as number[],
      limitsLagModel: [] as number[],
      missed: { scan: 0, prom: 0, sd: 0 },
    };
    results.set(kind.label, r);
    for (let e = 0; e < nEp; e++) {
      epId++;
      const tau = candidates[Math.floor(rng.next() * candidates.length)]!;
      // The noise profile the daemon would hold then: fitted on the week before the episode's week.
      noise = noiseOfWeek(Math.floor((tau - 20) / MINUTES_PER_WEEK));
      const H = kind.horizon;
      const n = H + 2;
      // Episode cohorts τ … τ+H: thinned completions, re-split into arrivals.
      const epCum = new Int32Array(n * A);
      const epSegCum = stream.segments.map(() => new Int32Array(n * A));
      const epArr = new Float64Array(n + A + 2);
      const erng = new Rng(stream.config.seed, epId, 0x7417);
      for (let i = 0; i < n; i++) {
        const s = tau + i;
        for (let k = 0; k < A; k++) epCum[i * A + k] = cum[s * A + k]!;
        for (let j = 0; j < nSeg; j++) {
          cohortArrivals(stream, s, j, stream.finals[j]![s]!, 0, orig);
          if (kind.segs.includes(j)) {
            const thinned = erng.binomial(stream.finals[j]![s]!, 1 - kind.size);
            cohortArrivals(stream, s, j, thinned, 1000 + epId, neu);
          } else neu.set(orig);
          let pv = 0,
            po = 0;
          for (let k = 0; k < A; k++) {
            epCum[i * A + k]! += neu[k]! - orig[k]!;
            epSegCum[j]![i * A + k] = neu[k]!;
            epArr[i + k + 1]! += neu[k]! - pv - (orig[k]! - po);
            pv = neu[k]!;
            po = orig[k]!;
          }
        }
      }
      const pEp = prefix(epArr);
      const epConv = (s: number, k: number) =>
        s >= tau && s - tau < n ? epCum[(s - tau) * A + Math.min(k, maxAge)]! : baseConv(s, k);
      // Arrivals at look times [a, b): base plus the episode's change (epArr index m − τ).
      const epAr = (a: number, b: number) => {
        let v = win(pArr, a, b);
        const ea = Math.max(0, Math.min(pEp.length - 1, a - tau)),
          eb = Math.max(0, Math.min(pEp.length - 1, b - tau));
        v += pEp[eb]! - pEp[ea]!;
        return v;
      };
      // Limit for this episode.
      let nn = 0,
        pp = 0,
        ps = 0;
      for (let s = tau; s < tau + 30; s++)
        for (let j = 0; j < nSeg; j++) {
          nn += stream.starts[j]![s]!;
          pp += stream.starts[j]![s]! * stream.trueRate[j]![s]!;
          if (kind.segs.includes(j)) ps += stream.starts[j]![s]! * stream.trueRate[j]![s]!;
        }
      const pre = pp / nn;
      const p1 = Math.max(0, pre - (kind.size * ps) / nn);
      r.limits.push(
        cusumDelayLimit({ n: nn / 30, p0: pre, p1, falseAlarmsPerWeek: fapw, stepMinutes: 1 }).delayMinutes,
      );
      r.limitsModel.push(
        cusumDelayLimit({ n: nn / 30, p0: pre, p1, falseAlarmsPerWeek: fapw, stepMinutes: 1, tau2: wobbleTau2 })
          .delayMinutes,
      );
      r.limitsLag.push(
        cusumDelayLimitLagged({ n: nn / 30, p0: pre, p1, falseAlarmsPerWeek: fapw, stepMinutes: 1, completeness: vis })
          .delayMinutes,
      );
      r.limitsLagModel.push(
        cusumDelayLimitLagged({
          n: nn / 30,
          p0: pre,
          p1,
          falseAlarmsPerWeek: fapw,
          stepMinutes: 1,
          tau2: wobbleTau2,
          completeness: vis,
        }).delayMinutes,
      );

      const pg = { scan: new Pager(0, resolveAfter), prom: new Pager(5, resolveAfter), sd: new Pager(5, resolveAfter) };
      const done = { scan: false, prom: false, sd: false };
      const excluded = { scan: false, prom: false, sd: false };
      for (let T = tau - 20; T <= tau + H; T++) {
        const d = scanAt(T, epConv);
        const conds = {
          scan: d.state === 'insufficient' ? null : d.state === 'breach',
          prom: promAt(T, epAr),
          sd: sdAt(T, epAr),
        };
        for (const key of ['scan', 'prom', 'sd'] as const) {
          const fired = pg[key].step(conds[key], T, key === 'scan');
          if (T === tau && pg[key].firing) excluded[key] = true;
          if (T > tau && fired && !done[key] && !excluded[key]) {
            done[key] = true;
            r[key].push(T - tau + lookDelay);
            if (key === 'scan') {
              if (d.onsetIndex !== null) {
                const err = T - wmax + d.onsetIndex - tau;
                onsetErr += Math.abs(err);
                onsetN++;
                (onsetByKind[kind.label] ??= []).push(err);
              }
              if (kind.label === 'segment') {
                namedN++;
                const w = Math.max(1, Math.round(d.windowMinutes));
                const segsIn = stream.segments.map((name, j) => {
                  let st = 0,
                    ob = 0,
                    ex = 0;
                  for (let s = T - w; s <= T - 1; s++) {
                    const k = Math.min(T - 1 - s, maxAge);
                    st += stream.starts[j]![s]!;
                    ob +=
                      s >= tau
                        ? epSegCum[j]![(s - tau) * A + k]!
                        : (cohortArrivals(stream, s, j, stream.finals[j]![s]!, 0, orig), orig[k]!);
                    ex += stream.starts[j]![s]! * p0Seg[j]![s]! * G[k]!;
                  }
                  return { value: name, current: { starts: st, conversions: ob }, baselineRate: st > 0 ? ex / st : 0 };
                });
                const dd = drilldown({ dimension: 'platform', segments: segsIn, tau2: noise.tau2, drop });
                if (dd.classification === 'localised' && dd.top[0]?.value === segSpec.segment) named++;
              }
            }
          }
        }
      }
      for (const key of ['scan', 'prom', 'sd'] as const) {
        if (excluded[key]) r.pre[key]++;
        else if (!done[key]) r.missed[key]++;
      }
    }
    log(`episodes ${kind.label} done at ${(performance.now() - t0).toFixed(0)} ms`);
  }

  const stats = (
    xs: number[],
    res: {
      pre: Record<string, number>;
      missed: Record<string, number>;
      limits: number[];
      limitsModel: number[];
      limitsLag: number[];
      limitsLagModel: number[];
    },
    key: 'scan' | 'prom' | 'sd',
  ): DelayStats => {
    const sorted = [...xs].sort((a, b) => a - b);
    const q = (p: number) =>
      sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]! : NaN;
    const mean = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);
    return {
      n: xs.length + res.pre[key]! + res.missed[key]!,
      detected: xs.length,
      pre_alarmed: res.pre[key]!,
      mean: round(mean(xs)),
      median: q(0.5),
      p90: q(0.9),
      limit: round(mean(res.limits)),
      limit_model: round(mean(res.limitsModel)),
      limit_lag: round(mean(res.limitsLag)),
      limit_lag_model: round(mean(res.limitsLagModel)),
    };
  };
  const weeks = evalWeeks;
  const report = (key: 'scan' | 'prom' | 'sd'): DetectorReport => {
    const delays: Record<string, DelayStats> = {};
    const ratio: Record<string, number> = {};
    for (const kind of kinds) {
      if (kind.label === 'segment' || kind.label === 'below_half') continue;
      const r = results.get(kind.label)!;
      delays[kind.label] = stats(r[key], r, key);
      ratio[kind.label] = round(delays[kind.label]!.mean / delays[kind.label]!.limit);
    }
    const seg = results.get('segment')!;
    const bh = results.get('below_half')!;
    return {
      fa_per_week: round(fa[key] / weeks),
      fa_count: fa[key],
      fa_during_surges: faSurge[key],
      delays,
      delay_ratio: ratio,
      segment_drop: stats(seg[key], seg, key),
      below_half_paged: round(bh[key].length / Math.max(1, bh[key].length + bh.missed[key])),
    };
  };
  const scan = report('scan');
  const ratioModel: Record<string, number> = {};
  const ratioLag: Record<string, number> = {};
  const ratioLagModel: Record<string, number> = {};
  for (const [k, v] of Object.entries(scan.delays)) {
    ratioModel[k] = round(v.mean / v.limit_model);
    ratioLag[k] = round(v.mean / v.limit_lag);
    ratioLagModel[k] = round(v.mean / v.limit_lag_model);
  }
  const onsetByKindOut: Record<string, { abs: number; bias: number }> = {};
  for (const [k, xs] of Object.entries(onsetByKind)) {
    onsetByKindOut[k] = {
      abs: round(xs.reduce((a, x) => a + Math.abs(x), 0) / xs.length),
      bias: round(xs.reduce((a, x) => a + x, 0) / xs.length),
    };
  }
  return {
    weeks,
    starts_per_min_at_onset: round((lo + hi) / 2),
    scan: {
      ...scan,
      delay_ratio_model: ratioModel,
      delay_ratio_lag: ratioLag,
      delay_ratio_lag_model: ratioLagModel,
      onset_err_by_kind: onsetByKindOut,
      segment_named: round(named / Math.max(1, namedN)),
      onset_abs_err_min: round(onsetErr / Math.max(1, onsetN)),
    },
    ref_prometheus: report('prom'),
    ref_2sd: report('sd'),
    tau2: firstNoise,
    elapsed_ms: Math.round(performance.now() - t0),
  };
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x;
}
