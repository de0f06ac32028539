/**
 * Per-window thresholds of the multi-window scan, derived analytically from a false-alarm budget in pages per
 * week — no simulation needed at rule-load time.
 *
 * Why not Φ⁻¹(1 − α)? The scan looks every step, and windows overlap: a w-step window evaluated every step is a
 * moving sum whose normalised value has correlation 1 − k/w at lag k. False alarms come in clumps, and what the
 * budget limits is the rate of clumps (up-crossings), not the per-look tail probability.
 *
 * For a moving-sum Gaussian process the up-crossing rate of level c per step is (Siegmund 1985; Siegmund &
 * Venkatraman 1995, the discrete-time correction ν):
 *     α_w(c) ≈ min( Φ̄(c),  c·φ(c)/w · ν(c·√(2/w)) ),
 *     ν(x) = (2/x)(Φ(x/2) − ½) / ((x/2)Φ(x/2) + φ(x/2)).
 * For w = 1 consecutive looks are independent and the rate is Φ̄(c). Solving α_w(c) = 1/γ for a single window
 * reproduces the Monte-Carlo calibrations of statistics.md §3.3 (1-min 3.72 vs 3.75, 5-min 3.65 vs 3.67,
 * 15-min 3.49 vs 3.51, 240-min 2.71 vs 2.73) — within discreteness of the binomial.
 *
 * Across windows the budget is split equally (Bonferroni on clump rates): each of K windows gets 1/(K·γ).
 * Neighbouring windows are correlated, so the union fires less than the sum — the split is conservative by
 * roughly 1.3× in rate (statistics.md's single-threshold scan needs c = 4.10; the split gives 4.2–4.3 on short
 * windows). That slack is deliberate: baseline error and residual autocorrelation (§3.6–3.7) push real false
 * alarm rates up, and the benchmark measures what is left.
 */
import { MINUTES_PER_WEEK } from './cusum-limit.js';
import { normCdf, normPdf, normSf } from './normal.js';

/** Default scan windows in steps: doubling from 1 to 128, then 240 (4 h at one-minute steps). */
export const DEFAULT_WINDOWS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 240];

/** Siegmund's discrete-monitoring overshoot correction ν(x). */
export function siegmundNu(x: number): number {
  if (x < 1e-8) return 1;
  const h = x / 2;
  const ph = normCdf(h);
  return ((2 / x) * (ph - 0.5)) / (h * ph + normPdf(h));
}

/** Approximate rate (per look) at which a w-step moving-window z statistic up-crosses c under the null. */
export function upcrossingRate(windowSteps: number, c: number): number {
  const tail = normSf(c);
  if (windowSteps <= 1) return tail;
  const clump = ((c * normPdf(c)) / windowSteps) * siegmundNu(c * Math.sqrt(2 / windowSteps));
  return Math.min(tail, clump);
}

/** The c at which `upcrossingRate(w, c)` equals `rate` (bisection; the rate is decreasing in c). */
export function thresholdForRate(windowSteps: number, rate: number): number {
  let lo = 0;
  let hi = 40;
  for (let i = 0; i < 80; i++) {
    const mid = (lo + hi) / 2;
    if (upcrossingRate(windowSteps, mid) > rate) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * sfc32: a small deterministic generator for the calibration below. Deterministic on purpose: the thresholds
 * are a pure function of (budget, step, windows, resolve gap), identical on every start of the daemon.
 */
function sfc32(seed: number): () => number {
  let a = 0x9e3779b9,
    b = 0x243f6a88,
    c = 0xb7e15162,
    d = seed | 0;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next();
  return next;
}

export interface ScanNullSimulation {
  /** Looks simulated. */
  steps: number;
  /** A page ends after this many looks without the condition (the rule's `resolve_after`, in steps). */
  resolveSteps: number;
  seed?: number;
}

/**
 * Pages per look of the scan under the i.i.d. Gaussian null (each step's standardised residual N(0, 1), each
 * window's z the moving sum / √w), for several threshold sets at once (one pass, common random numbers).
 * A page starts when any window is at or above its threshold and no page is open; a page closes after
 * `resolveSteps` looks without the condition — what ops counts as "pages per week".
 */
export function simulateScanPageRates(
  windows: readonly number[],
  thresholdSets: readonly (readonly number[])[],
  sim: ScanNullSimulation,
): number[] {
  const K = windows.length;
  const wmax = Math.max(...windows);
  const size = wmax + 1;
  const ring = new Float64Array(size);
  const inv = windows.map((w) => 1 / Math.sqrt(w));
  // Loosest threshold per window: below it no set can fire, so most looks stop after K comparisons.
  const loosest = windows.map((_, k) => Math.min(...thresholdSets.map((t) => t[k]!)));
  const pages = new Array<number>(thresholdSets.length).fill(0);
  const lastCond = new Array<number>(thresholdSets.length).fill(-Infinity);
  const z = new Float64Array(K);
  const u = sfc32(sim.seed ?? 0x5eed);
  let cum = 0;
  let spare = NaN;
  for (let t = 0; t < sim.steps + wmax; t++) {
    let x: number;
    if (spare === spare) {
      x = spare;
      spare = NaN;
    } else {
      const r = Math.sqrt(-2 * Math.log(u() + 1e-300));
      const th = 2 * Math.PI * u();
      x = r * Math.cos(th);
      spare = r * Math.sin(th);
    }
    cum += x;
    ring[t % size] = cum;
    if (t < wmax) continue;
    let any = false;
    for (let k = 0; k < K; k++) {
      const zk = (cum - ring[(t - windows[k]!) % size]!) * inv[k]!;
      z[k] = zk;
      if (zk >= loosest[k]!) any = true;
    }
    if (!any) continue;
    for (let g = 0; g < thresholdSets.length; g++) {
      const c = thresholdSets[g]!;
      let cond = false;
      for (let k = 0; k < K && !cond; k++) cond = z[k]! >= c[k]!;
      if (!cond) continue;
      if (t - lastCond[g]! > sim.resolveSteps) pages[g]!++;
      lastCond[g] = t;
    }
  }
  return pages.map((p) => p / sim.steps);
}

export interface ScanThresholdsInput {
  falseAlarmsPerWeek: number;
  /** Minutes between evaluations (and the width of one bucket). */
  stepMinutes: number;
  /** Window lengths in steps. */
  windows?: readonly number[];
  /** Minutes without the condition before a page resolves (the rule's `resolve_after`); default 10. */
  resolveAfterMinutes?: number;
  /** Skip the simulation and use the plain equal split (Bonferroni on clump rates). Default false. */
  uncalibrated?: boolean;
}

export interface ScanThresholds {
  windows: readonly number[];
  /** Threshold on the one-sided z (signed root deviance / √φ), one per window. */
  thresholds: readonly number[];
  /** Analytic up-crossing rate allotted to each window, per look (after calibration). */
  perWindowRate: number;
  /** Looks per week. */
  looksPerWeek: number;
  /**
   * Union-bound slack found by simulation: the scan's simulated page rate at these thresholds is
   * (windows × perWindowRate) / calibration. 1 = uncalibrated.
   */
  calibration: number;
}

const cache = new Map<string, ScanThresholds>();

/** Relaxation factors tried for the per-window rate (1 = the Bonferroni split). */
const SCALES = Array.from({ length: 29 }, (_, i) => Math.pow(2, (i - 4) / 8)); // 0.71 … 4

/**
 * Thresholds for a budget; memoised because rules share a handful of budgets.
 *
 * Calibration: the equal split counts every window's clumps separately, but nested windows cross together
 * (a drop that lifts the 8-minute z lifts the 4- and 16-minute ones too), and pages within `resolve_after`
 * of each other are one page. So the per-window rate is relaxed by the factor s at which the simulated
 * null page rate of the whole scan equals the budget (i.i.d. Gaussian null, ≥ 400 expected pages at the
 * budget: a few % error in rate, ~0.01 in z). Real data are more persistent than i.i.d. (slow wobble,
 * baseline error), which only lowers the rate further; the benchmark measures what is left.
 */
export function scanThresholds(input: ScanThresholdsInput): ScanThresholds {
  const windows = input.windows ?? DEFAULT_WINDOWS;
  if (
    !(input.falseAlarmsPerWeek > 0) ||
    !(input.stepMinutes > 0) ||
    windows.length === 0 ||
    windows.some((w) => !(w >= 1))
  ) {
    throw new RangeError(`scanThresholds: invalid input ${JSON.stringify(input)}`);
  }
  const resolveSteps = Math.max(0, Math.ceil((input.resolveAfterMinutes ?? 10) / input.stepMinutes));
  const key =
    `${input.falseAlarmsPerWeek}|${input.stepMinutes}` +
    `|${windows.join(',')}|${resolveSteps}|${input.uncalibrated ? 0 : 1}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const looksPerWeek = MINUTES_PER_WEEK / input.stepMinutes;
  const budget = input.falseAlarmsPerWeek / looksPerWeek;
  const split = budget / windows.length;
  const at = (s: number) => windows.map((w) => thresholdForRate(w, Math.min(0.5, split * s)));
  const scale = input.uncalibrated ? 1 : calibrationScale(windows, resolveSteps);
  const result: ScanThresholds = {
    windows: [...windows],
    thresholds: at(scale),
    perWindowRate: split * scale,
    looksPerWeek,
    calibration: scale,
  };
  cache.set(key, result);
  return result;
}

const scaleCache = new Map<string, number>();
/** Per-look page rate the calibration is simulated at: 1 page/week at one look a minute. */
const REFERENCE_RATE = 1 / MINUTES_PER_WEEK;

/**
 * The relaxation factor for a window set, simulated once at a reference budget (1 page/week at one look a minute,
 * 4M looks: ~400 pages) and used for every budget. Why not per budget: the slack comes from how correlated the
 * nested windows' tails are, which changes little with the level (1.055–1.09 measured from 1 to 1/8 page a
 * week), while simulating a small budget precisely takes 10⁷–10⁸ looks — seconds per budget, on the evaluation
 * tick of a daemon whose rules each bring their own budget.
 */
function calibrationScale(windows: readonly number[], resolveSteps: number): number {
  const key = `${windows.join(',')}|${resolveSteps}`;
  const hit = scaleCache.get(key);
  if (hit !== undefined) return hit;
  const split = REFERENCE_RATE / windows.length;
  const sets = SCALES.map((s) => windows.map((w) => thresholdForRate(w, Math.min(0.5, split * s))));
  const rates = simulateScanPageRates(windows, sets, { steps: Math.ceil(400 / REFERENCE_RATE), resolveSteps });
  for (let i = 1; i < rates.length; i++) rates[i] = Math.max(rates[i]!, rates[i - 1]!); // monotone in s
  const scale = interpolateScale(rates, REFERENCE_RATE);
  scaleCache.set(key, scale);
  return scale;
}

/** How many window sets have been calibrated (simulated) in this process: lets tests see that warming worked. */
export function calibrationsDone(): number {
  return scaleCache.size;
}

/** The s at which the simulated rate crosses the budget, log-linear between grid points, clamped to the grid. */
function interpolateScale(rates: readonly number[], budget: number): number {
  if (!(rates[0]! < budget)) return SCALES[0]!;
  for (let i = 1; i < rates.length; i++) {
    if (rates[i]! >= budget) {
      const r0 = Math.max(rates[i - 1]!, 1e-300),
        r1 = rates[i]!;
      const f = r1 > r0 ? Math.log(budget / r0) / Math.log(r1 / r0) : 0;
      return Math.exp(Math.log(SCALES[i - 1]!) + f * (Math.log(SCALES[i]!) - Math.log(SCALES[i - 1]!)));
    }
  }
  return SCALES[SCALES.length - 1]!;
}
