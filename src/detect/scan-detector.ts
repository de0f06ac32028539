/**
 * The drop (or increase) detector: a multi-window scan on counts, calibrated to a false-alarm budget.
 *
 * Statistics (statistics.md §2.1, §3.3, §3.5):
 * - Drop size is never known in advance. A CUSUM tuned for 5 % is 2.6× too slow on a 2 % drop; the window-limited
 *   GLR — the max over window lengths of a one-sided statistic — stays within 1.05–1.25× of the per-drop optimum
 *   from 2 % to 20 %. Windows double from 1 to 240 steps: short windows catch outages in one or two minutes, long
 *   windows accumulate evidence at night and for small drops.
 * - Each window compares observed completions O with expected E = Σ starts·p0·g, where p0 is the per-step baseline
 *   rate (risk-adjusted by segment if the caller has segment baselines: a campaign's low-intent traffic then does
 *   not look like a drop, §5.1) and g the completeness of a cohort of that age (conversion lag and late events,
 *   §5.2: young cohorts count with their partial information instead of being waited for).
 * - Variance of O: binomial Σ S·π(1−π) (π = p0·g), plus extra-binomial noise τ²·Σ(S·g)² for minute-to-minute
 *   wobble, plus τ²_slow·Σ_ij a_i a_j ρ^|i−j| (a = S·g) for an AR(1) wobble with time constant `slowMinutes`
 *   (without one: τ²_slow·(Σ S·g)², fully persistent), plus τ²_persistent·(Σ S·g)², plus baseline error
 *   E²·σ²_rel. A binomial-only variance at 1,000 starts/min with a 1 pp wobble fires ~9×/week instead of once
 *   (§3.6); treating a 30-minute AR(1) as white or as fully persistent mis-sizes 4–60-minute windows.
 * - Statistic: signed root of the binomial deviance, divided by √φ with φ = total variance / binomial variance
 *   (quasi-likelihood). Large counts: the score z with the inflated variance. Small counts: the exact
 *   likelihood's skew, never a Wald z. Below `minVolume` starts a window is not scored; with no scorable window
 *   the result is 'insufficient' — neither firing nor resolving.
 * - Thresholds: thresholds.ts (up-crossing rates per look, budget split over windows, the split calibrated by
 *   simulating the scan's null page rate).
 *
 * "Drops under half of `drop` should not page" — the choice, and why:
 * Testing against the shifted null p ≥ p0·(1 − drop/2) at the budget's level makes the effective signal of a 5 %
 * drop 2.5 %, i.e. ~4× the detection delay; and no detector near the CUSUM limit for 5 % can ignore a sustained
 * 2.5 % drop (the optimal CUSUM's drift is exactly zero there and it still pages within ~20 min). So the budget
 * is spent on the unshifted null (full speed for real drops), and a window may page only if its *estimated*
 * relative drop is also ≥ drop/2 (practical significance). Long windows — the ones that would otherwise page a
 * small sustained drop — estimate it precisely and are gated off; what remains is short-window noise riding on
 * a small drop, which the benchmark measures (`below_half_pages`).
 *
 * Onset: the CUSUM change-point estimate — argmax over k of Σ_{s≥k} ℓ_s with the Gaussian per-step LLR for a
 * shift of the size the alarming window shows (at least `drop`), ℓ_s = (δ_s/v_s)(E_s − O_s) − δ_s²/(2v_s) —
 * the last zero of the CUSUM before the alarm.
 */
import { signedRootDeviance } from './likelihood.js';
import { normSf } from './normal.js';
import { DEFAULT_WINDOWS, scanThresholds, upcrossingRate, type ScanThresholds } from './thresholds.js';

export type Direction = 'drop' | 'increase';
export type DetectionState = 'ok' | 'breach' | 'insufficient';

/** Extra-binomial noise on the rate scale (rate², e.g. (0.01)² for a 1 pp wobble). */
export interface NoiseModel {
  /** Per-step variance of the true rate that is independent from step to step (averages out over a window). */
  tau2: number;
  /**
   * Variance of the slow part. With `slowMinutes` it is an AR(1) with that time constant (correlation
   * e^{−Δt/slowMinutes} between steps Δt apart); without, it persists across a whole window (conservative).
   */
  tau2Slow?: number;
  /** Time constant of the slow part in minutes (AR(1)); absent = fully persistent. */
  slowMinutes?: number;
  /**
   * Variance of the part constant across any window (added to the baseline's own variance). Default 0.
   * `estimateNoiseProfile` measures it on residuals against the baseline, net of the baseline's stated
   * variance when the residuals carry it.
   */
  tau2Persistent?: number;
}

/** Per-step columns, oldest first, most recent last. */
export interface DetectorSeries {
  starts: ArrayLike<number>;
  /** Completions of the step's cohort observed so far. */
  conversions: ArrayLike<number>;
  /** Baseline conversion rate for each step (or one rate for all). */
  expectedRate: ArrayLike<number> | number;
  /** Expected fraction of the cohort's eventual completions already observed (1 = mature). Default 1. */
  completeness?: ArrayLike<number> | number;
}

export interface DetectInput {
  series: DetectorSeries;
  /** Relative change that matters: 0.05 for `drop: 5%` (or `increase: 5%` with direction 'increase'). */
  drop: number;
  direction?: Direction;
  /** Variance of the baseline rate estimate, relative (σ²/p0²). Default 0. */
  baselineRelVariance?: number;
  /** Extra-binomial noise; a number is taken as `{ tau2 }`. Default 0. */
  noise?: NoiseModel | number;
  /** Page budget, default 1/week. */
  falseAlarmsPerWeek?: number;
  /** Minutes per step, default 1. */
  stepMinutes?: number;
  /** Window lengths in steps; default 1, 2, 4 … 128, 240. */
  windows?: readonly number[];
  /** Starts a window needs before it is scored. Default 1. */
  minVolume?: number;
  /**
   * The rule's `resolve_after` in minutes: pages closer together than this are one page, which the threshold
   * calibration counts as one against the budget. Default 10 (the rules' default).
   */
  resolveAfterMinutes?: number;
  /** Only windows up to this many steps are scored (after a resolve: the steps since). Default: all. */
  maxWindowSteps?: number;
}

export interface Detection {
  state: DetectionState;
  /** One-sided z of the reported window (positive = in the direction tested). */
  statistic: number;
  /** That window's threshold. */
  threshold: number;
  /** Nominal one-sided p-value of the reported window, per look. */
  pValue: number;
  /**
   * Pages per week the scan would produce if its thresholds sat at this statistic: "this happens by chance
   * N×/week".
   */
  chanceRatePerWeek: number;
  /** Observed completions ÷ starts in the window (completeness-adjusted). */
  observedRate: number;
  expectedRate: number;
  /** (expected − observed)/expected for drops, (observed − expected)/expected for increases. */
  relativeChange: number;
  observed: number;
  expected: number;
  /** Starts in the reported window. */
  volume: number;
  windowMinutes: number;
  /** Index into the series of the step the change began (breach only). */
  onsetIndex: number | null;
  /** Steps from the onset step to the newest step, inclusive (breach only). */
  onsetStepsAgo: number | null;
  reason?: string;
  /**
   * The newest windows of up to RECENT_MAX_STEPS steps, for the resolve decision (recoveredFrom): the scan's long
   * windows keep an incident's evidence for hours after it ended, these see only the newest data.
   */
  recentWindows?: RecentWindow[];
}

/**
 * One of the newest windows: its counts, total and binomial null variance, its relative change and one-sided z
 * (both positive in the bad direction).
 */
export interface RecentWindow {
  steps: number;
  observed: number;
  expected: number;
  variance: number;
  nullVariance: number;
  change: number;
  z: number;
}

/** Windows up to this many steps judge whether an open alert has recovered. */
export const RECENT_MAX_STEPS = 32;
/** Recovered: the window is consistent with the baseline (z below this, far below any page threshold)… */
export const RECOVERED_Z = 2;
/** …and clearly better than the incident's level (by this many standard deviations). */
export const SEPARATED_Z = 2;

/**
 * Whether the newest data shows the series back at its baseline, and since when (in steps before the newest
 * step's end; null = not recovered). The resolve test, with hysteresis against the page: the shortest newest
 * window that is both consistent with the baseline (z < RECOVERED_Z, where a page needs z above the scan's
 * threshold) and separated from the incident's own level (`incidentChange`, e.g. the peak relative drop) by
 * SEPARATED_Z. Right after a provider recovers one or two minutes of data already reject a 90 % drop; a drop
 * lingering near the rule's threshold is never separated from its own level, so it holds instead of flapping.
 * Only windows of at most `maxSteps` steps count: the steps since the incident began. A longer window reaches back
 * into the healthy data before the onset and, minutes into an outage, looks "back at baseline" while it is not.
 */
export function recoveredSteps(
  windows: readonly RecentWindow[],
  incidentChange: number,
  maxSteps = Infinity,
): number | null {
  for (const w of [...windows].sort((a, b) => a.steps - b.steps)) {
    if (w.steps > maxSteps) break;
    if (!(w.expected > 0 && w.nullVariance > 0)) continue;
    // The gap to the incident's level in sampling standard deviations: the fitted noise is left out, because a
    // noise fit whose span took in the incident itself is inflated by it and would hold the alert for hours.
    const gap = (w.expected * (incidentChange - w.change)) / Math.sqrt(w.nullVariance);
    if (w.z < RECOVERED_Z && gap >= SEPARATED_Z) return w.steps;
  }
  return null;
}

/** Sufficient statistics of one window; the harness builds these from running sums. */
export interface WindowSums {
  steps: number;
  /** Starts (binomial trials). For the Poisson family: ignored except for `minVolume`. */
  trials: number;
  observed: number;
  expected: number;
  /** Σ S·π(1−π) (binomial) or Σ expected (Poisson). */
  nullVariance: number;
  /** Σ (S·g)² — multiplies τ². */
  fastWeight: number;
  /** (Σ S·g)² — multiplies τ²_persistent (and τ²_slow without a time constant). */
  slowWeight: number;
  /** Σ_ij a_i a_j ρ^|i−j| with a = S·g — multiplies an AR(1) τ²_slow. Defaults to `slowWeight` (ρ = 1). */
  arWeight?: number;
  /** Σ S·p0 (expected completions once every cohort is mature); defaults to `expected`. */
  expectedMature?: number;
}

export interface ScanOptions {
  drop: number;
  direction: Direction;
  family: 'binomial' | 'poisson';
  baselineRelVariance: number;
  noise: NoiseModel;
  thresholds: ScanThresholds;
  minVolume: number;
}

export interface ScanResult extends Omit<Detection, 'onsetIndex' | 'onsetStepsAgo'> {
  /** Index into `sums` of the reported window, -1 if none. */
  windowIndex: number;
}

/**
 * The detection of a look with too little data to test: no statistic, nothing fires, `reason` says what was missing;
 * `volume` is the most starts any window had.
 */
export function insufficientDetection(reason: string, volume = 0): Omit<Detection, 'onsetIndex' | 'onsetStepsAgo'> {
  return {
    state: 'insufficient',
    statistic: 0,
    threshold: NaN,
    pValue: 1,
    chanceRatePerWeek: Infinity,
    observedRate: NaN,
    expectedRate: NaN,
    relativeChange: 0,
    observed: 0,
    expected: 0,
    volume,
    windowMinutes: 0,
    reason,
  };
}

function asNoise(noise: NoiseModel | number | undefined): NoiseModel {
  if (noise === undefined) return { tau2: 0, tau2Slow: 0 };
  return typeof noise === 'number' ? { tau2: noise, tau2Slow: 0 } : noise;
}

/**
 * Variance of a window's observed count under the null: binomial + white wobble + AR(1) wobble (persistent
 * without a time constant) + persistent wobble + the baseline's error (constant across the window).
 */
export function windowVariance(s: WindowSums, noise: NoiseModel, baselineRelVariance: number): number {
  const slowW = noise.slowMinutes === undefined ? s.slowWeight : (s.arWeight ?? s.slowWeight);
  return (
    s.nullVariance +
    noise.tau2 * s.fastWeight +
    (noise.tau2Slow ?? 0) * slowW +
    (noise.tau2Persistent ?? 0) * s.slowWeight +
    baselineRelVariance * s.expected * s.expected
  );
}

/** One window's one-sided z. */
export function windowZ(s: WindowSums, o: Omit<ScanOptions, 'thresholds' | 'minVolume'>): number {
  const { noise } = o;
  const variance = windowVariance(s, noise, o.baselineRelVariance);
  if (!(s.nullVariance > 0) || !(variance > 0)) return 0;
  const phi = variance / s.nullVariance;
  const r = signedRootDeviance(o.family, s.observed, s.expected, s.trials);
  const z = r / Math.sqrt(phi);
  return o.direction === 'drop' ? z : -z;
}

/** Scores precomputed window sums. O(number of windows). */
export function scanSums(sums: readonly WindowSums[], o: ScanOptions): ScanResult {
  const t = o.thresholds;
  let best = -1;
  let bestMargin = -Infinity;
  let bestZ = 0;
  let breach = false;
  for (let i = 0; i < sums.length; i++) {
    const s = sums[i]!;
    if (s.trials < o.minVolume || !(s.expected > 0)) continue;
    const k = t.windows.indexOf(s.steps);
    const c = k >= 0 ? t.thresholds[k]! : t.thresholds[t.thresholds.length - 1]!;
    const z = windowZ(s, o);
    const change =
      o.direction === 'drop' ? (s.expected - s.observed) / s.expected : (s.observed - s.expected) / s.expected;
    const fires = z >= c && change >= o.drop / 2;
    const margin = z - c;
    if ((fires && !breach) || (fires === breach && margin > bestMargin)) {
      best = i;
      bestMargin = margin;
      bestZ = z;
      breach = breach || fires;
    }
  }
  if (best < 0) {
    const volume = sums.reduce((m, s) => Math.max(m, s.trials), 0);
    return { ...insufficientDetection('no window has min_volume starts', volume), windowIndex: -1 };
  }
  const s = sums[best]!;
  const k = t.windows.indexOf(s.steps);
  const c = k >= 0 ? t.thresholds[k]! : t.thresholds[t.thresholds.length - 1]!;
  // Chance rate: the union bound the thresholds were built from, evaluated at the observed statistic.
  const chance =
    Math.min(1, (t.windows.length * upcrossingRate(s.steps, Math.max(bestZ, 0))) / t.calibration) * t.looksPerWeek;
  const stepMinutes = 10_080 / t.looksPerWeek;
  const rel = o.direction === 'drop' ? (s.expected - s.observed) / s.expected : (s.observed - s.expected) / s.expected;
  const recentWindows: RecentWindow[] = [];
  for (const w of sums) {
    if (w.steps > RECENT_MAX_STEPS || !(w.expected > 0)) continue;
    const variance = windowVariance(w, o.noise, o.baselineRelVariance);
    const change =
      o.direction === 'drop' ? (w.expected - w.observed) / w.expected : (w.observed - w.expected) / w.expected;
    recentWindows.push({
      steps: w.steps,
      observed: w.observed,
      expected: w.expected,
      variance,
      nullVariance: w.nullVariance,
      change,
      z: windowZ(w, o),
    });
  }
  return {
    state: breach ? 'breach' : 'ok',
    statistic: bestZ,
    threshold: c,
    pValue: normSf(bestZ),
    chanceRatePerWeek: chance,
    // Completeness-adjusted: observed/expected scales the mature baseline rate.
    observedRate: s.trials > 0 ? ((s.expectedMature ?? s.expected) / s.trials) * (s.observed / s.expected) : NaN,
    expectedRate: s.trials > 0 ? (s.expectedMature ?? s.expected) / s.trials : NaN,
    relativeChange: rel,
    observed: s.observed,
    expected: s.expected,
    volume: s.trials,
    windowMinutes: s.steps * stepMinutes,
    windowIndex: best,
    recentWindows,
  };
}

function at(v: ArrayLike<number> | number | undefined, i: number, dflt: number): number {
  if (v === undefined) return dflt;
  return typeof v === 'number' ? v : (v[i] ?? dflt);
}

/**
 * Window sums over the newest `windows` steps of a series, in one backward pass. Steps with a missing or
 * non-positive expected rate count as no data. `slowRho` is the AR(1) lag-one correlation of the slow wobble
 * (1 = persistent); its weight Σ_ij a_i a_j ρ^|i−j| is accumulated as Q += a² + 2a·ρ·R, R ← ρ·R + a.
 */
export function seriesWindowSums(series: DetectorSeries, windows: readonly number[], slowRho = 1): WindowSums[] {
  const n = series.starts.length;
  const sorted = [...windows].sort((a, b) => a - b).filter((w) => w <= n);
  const out: WindowSums[] = [];
  let trials = 0,
    observed = 0,
    expected = 0,
    mature = 0,
    nullVar = 0,
    fast = 0,
    sg = 0,
    arR = 0,
    arQ = 0;
  let wi = 0;
  for (let j = 1; j <= n && wi < sorted.length; j++) {
    const i = n - j;
    const s = series.starts[i] ?? 0;
    const p = at(series.expectedRate, i, NaN);
    const g = at(series.completeness, i, 1);
    if (s > 0 && p > 0 && p < 1 && g > 0) {
      const pi = p * g;
      trials += s;
      observed += series.conversions[i] ?? 0;
      expected += s * pi;
      mature += s * p;
      nullVar += s * pi * (1 - pi);
      fast += (s * g) ** 2;
      sg += s * g;
      arQ += s * g * (s * g + 2 * slowRho * arR);
      arR = slowRho * arR + s * g;
    } else arR *= slowRho;
    if (j === sorted[wi]) {
      out.push({
        steps: j,
        trials,
        observed,
        expected,
        nullVariance: nullVar,
        fastWeight: fast,
        slowWeight: sg * sg,
        arWeight: arQ,
        expectedMature: mature,
      });
      wi++;
    }
  }
  return out;
}

/**
 * CUSUM change-point estimate: index of the step where the post-change segment most likely began, or null if
 * the evidence for a `drop`-sized shift is nowhere positive.
 */
export function estimateOnset(
  series: DetectorSeries,
  drop: number,
  direction: Direction,
  noise: NoiseModel,
  maxSteps: number,
): number | null {
  const n = series.starts.length;
  let sum = 0;
  let bestSum = 0;
  let bestIdx: number | null = null;
  for (let i = n - 1; i >= Math.max(0, n - maxSteps); i--) {
    const s = series.starts[i] ?? 0;
    const p = at(series.expectedRate, i, NaN);
    const g = at(series.completeness, i, 1);
    if (!(s > 0 && p > 0 && p < 1 && g > 0)) continue;
    const e = s * p * g;
    const v = e * (1 - p * g) + noise.tau2 * (s * g) ** 2;
    const delta = drop * e;
    const diff = direction === 'drop' ? e - (series.conversions[i] ?? 0) : (series.conversions[i] ?? 0) - e;
    sum += (delta / v) * diff - (delta * delta) / (2 * v);
    if (sum > bestSum) {
      bestSum = sum;
      bestIdx = i;
    }
  }
  return bestIdx;
}

/** Lag-one correlation of the slow wobble between steps `stepMinutes` apart (1 = persistent, no time constant). */
export function slowRho(noise: NoiseModel, stepMinutes: number): number {
  return noise.slowMinutes !== undefined && noise.slowMinutes > 0 ? Math.exp(-stepMinutes / noise.slowMinutes) : 1;
}

/** Evaluate one rule/segment at one look. Pure; O(series length). */
export function detectChange(input: DetectInput): Detection {
  const windows = input.windows ?? DEFAULT_WINDOWS;
  const thresholds = scanThresholds({
    falseAlarmsPerWeek: input.falseAlarmsPerWeek ?? 1,
    stepMinutes: input.stepMinutes ?? 1,
    windows,
    ...(input.resolveAfterMinutes !== undefined ? { resolveAfterMinutes: input.resolveAfterMinutes } : {}),
  });
  const direction = input.direction ?? 'drop';
  const noise = asNoise(input.noise);
  if (!(input.drop > 0 && input.drop < 1))
    throw new RangeError(`detectChange: drop must be in (0, 1), got ${input.drop}`);
  const sums = seriesWindowSums(input.series, windows, slowRho(noise, input.stepMinutes ?? 1)).filter(
    (s) => input.maxWindowSteps === undefined || s.steps <= input.maxWindowSteps,
  );
  const r = scanSums(sums, {
    drop: input.drop,
    direction,
    family: 'binomial',
    baselineRelVariance: input.baselineRelVariance ?? 0,
    noise,
    thresholds,
    minVolume: Math.max(1, input.minVolume ?? 1),
  });
  const { windowIndex: _w, ...rest } = r;
  if (r.state !== 'breach') return { ...rest, onsetIndex: null, onsetStepsAgo: null };
  const maxSteps = windows.reduce((m, w) => Math.max(m, w), 0);
  // Plug-in size: the CUSUM tuned to the drop the alarming window actually shows (never below `drop`). A
  // 5 %-tuned CUSUM drifts down only slowly before an outage and puts its onset minutes early.
  const size = Math.min(0.99, Math.max(input.drop, r.relativeChange));
  const onset = estimateOnset(input.series, size, direction, noise, maxSteps);
  const n = input.series.starts.length;
  return { ...rest, onsetIndex: onset, onsetStepsAgo: onset === null ? null : n - onset };
}

/** `detectChange` with direction 'drop'. */
export function detectDrop(input: Omit<DetectInput, 'direction'>): Detection {
  return detectChange({ ...input, direction: 'drop' });
}
