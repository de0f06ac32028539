/**
 * The clairvoyant reference of bench:detect (issue 20; docs/detection-oracle.md): the best detector we know how
 * to build on the same labelled stream when everything the daemon has to learn is handed to it.
 *
 * It knows, for every cohort minute s: the starts n_j of each segment, the true expected rate m_j(s) of each
 * segment (seasonality, level; the segment mix enters through n_j), the segment factors f_j with which the site-wide
 * wobble moves each segment, the true visibility curve v(k) (conversion lag + ingest lateness) and the true noise
 * model: binomial completions, a fast wobble e_s ~ N(0, σf²) independent each minute and a slow AR(1) wobble
 * x_s (stationary sd σx, φ = e^{−1/τ}). It sees completions only as they have arrived by each look.
 *
 * Observation of cohort s at age k (arrived completions y, all segments): E[y | w] = v(k)·(μ + a·w) with
 * μ = Σ n_j m_j, a = Σ n_j f_j, w = x + e, and binomial variance Σ n_j v m_j (1 − v m_j) = vμ − v²·Σ n_j m_j².
 * Normalised, o_s = (y − vμ)/(v·a) = x_s + ε_s with Var ε_s = σf² + (vμ − v²m₂)/(v·a)²: a linear Gaussian
 * state-space model in the slow wobble, filtered exactly by a scalar Kalman filter. A relative drop δ of every
 * segment's rate from cohort s0 on adds −δ·g_s (g = μ/a) to o_s; its GLS estimate over a window is the augmented
 * Kalman filter regression (de Jong 1991): run the regressor column through the same gains and
 *   δ̂ = −Σ ν_g ν_o / F ÷ Σ ν_g² / F,   z = δ̂ · √(Σ ν_g² / F),
 * which is the exact GLS estimate under the true covariance (slow wobble correlated, fast wobble and binomial
 * white, visibility-weighted), i.e. the drop's evidence "whitened", not inflated.
 *
 * Detector: at each look (one a minute) the largest z over windows of the newest 1…240 cohorts; it pages when
 * that reaches the threshold h. It resolves at the first look where the drop estimate over the newest
 * `resolveWindow` cohorts is below half the rule's minimum change, and then restarts its windows at those cohorts
 * (a CUSUM restart), so a new page needs new evidence. h is calibrated on a separate incident-free stream to the
 * false-alarm budget, with the same paging/resolve accounting the bench applies to every detector.
 *
 * `nullDrop` > 0 tests the shifted null "the drop is at most nullDrop" instead of "no drop" (z = (δ̂ − nullDrop)/SE),
 * as funnelwatch's scan does with half the rule's minimum change so that drops under half of it do not page: the
 * limit for a detector held to that requirement as well.
 *
 * Pure functions: the caller passes the look time T (cohorts < T are visible) and an accessor for what has arrived.
 */
import { MINUTES_PER_WEEK, type Stream } from './stream.js';

export const ORACLE_WINDOWS: readonly number[] = [1, 2, 3, 4, 6, 8, 11, 15, 20, 27, 36, 48, 64, 90, 125, 170, 240];
/** Cohorts the filter runs over before the longest window (5 slow-wobble time constants: the prior is forgotten). */
const WARM = 150;

/** Per-cohort facts the oracle is given (precomputed once per stream). */
export interface OracleFacts {
  /** μ = Σ_j n_j m_j. */
  mu: Float64Array;
  /** a = Σ_j n_j f_j. */
  a: Float64Array;
  /** m₂ = Σ_j n_j m_j². */
  m2: Float64Array;
  visibility: Float64Array;
  fastSd: number;
  slowSd: number;
  slowPhi: number;
}

export function oracleFacts(st: Stream): OracleFacts {
  const cfg = st.config;
  const factors = [...cfg.segments.map((s) => s.rateFactor), cfg.campaign.rateFactor];
  const mu = new Float64Array(st.minutes);
  const a = new Float64Array(st.minutes);
  const m2 = new Float64Array(st.minutes);
  for (let s = 0; s < st.minutes; s++) {
    let u = 0,
      b = 0,
      c = 0;
    for (let j = 0; j < st.segments.length; j++) {
      const n = st.starts[j]![s]!;
      const m = st.trueRate[j]![s]!;
      u += n * m;
      b += n * factors[j]!;
      c += n * m * m;
    }
    mu[s] = u;
    a[s] = b;
    m2[s] = c;
  }
  return {
    mu,
    a,
    m2,
    visibility: st.visibility,
    fastSd: cfg.wobble.fastSd,
    slowSd: cfg.wobble.slowSd,
    slowPhi: Math.exp(-1 / cfg.wobble.slowMinutes),
  };
}

export interface OracleLook {
  /** Largest drop statistic over the windows allowed (≥ `since`). */
  z: number;
  /** Window (cohorts) of that maximum. */
  window: number;
  /** GLS estimate of the relative drop over the newest `resolveWindow` cohorts. */
  recentDrop: number;
}

/** Scratch buffers, reused across looks. */
export interface OracleScratch {
  nu: Float64Array;
  f: Float64Array;
  k: Float64Array;
  g: Float64Array;
}

export function oracleScratch(): OracleScratch {
  const n = ORACLE_WINDOWS[ORACLE_WINDOWS.length - 1]! + WARM;
  return { nu: new Float64Array(n), f: new Float64Array(n), k: new Float64Array(n), g: new Float64Array(n) };
}

/**
 * One look at time T: cohorts T−L … T−1, `arrived(s)` the completions of cohort s arrived by this look. Windows
 * start no earlier than cohort `since`.
 */
export function oracleLook(
  facts: OracleFacts,
  T: number,
  arrived: (s: number) => number,
  since: number,
  resolveWindow: number,
  scratch: OracleScratch,
  nullDrop = 0,
): OracleLook {
  const L = scratch.nu.length;
  const first = Math.max(0, T - L);
  const n = T - first;
  const { nu, f, k: gain, g } = scratch;
  const phi = facts.slowPhi;
  const q = facts.slowSd * facts.slowSd * (1 - phi * phi);
  const fast2 = facts.fastSd * facts.fastSd;
  const vis = facts.visibility;
  let x = 0;
  let P = facts.slowSd * facts.slowSd;
  // Data pass: innovations ν, their variances F and the gains K (independent of the data) for each cohort.
  for (let i = 0; i < n; i++) {
    const s = first + i;
    const age = T - 1 - s;
    const v = vis[Math.min(age, vis.length - 1)]!;
    const xp = i === 0 ? 0 : phi * x;
    const Pp = i === 0 ? P : phi * phi * P + q;
    const va = v * facts.a[s]!;
    if (!(va > 1e-9)) {
      nu[i] = 0;
      f[i] = Infinity;
      gain[i] = 0;
      g[i] = 0;
      x = xp;
      P = Pp;
      continue;
    }
    const mu = facts.mu[s]!;
    const o = (arrived(s) - v * mu) / va;
    const R = fast2 + Math.max(1e-12, v * mu - v * v * facts.m2[s]!) / (va * va);
    const F = Pp + R;
    const K = Pp / F;
    nu[i] = o - xp;
    f[i] = F;
    gain[i] = K;
    g[i] = mu / facts.a[s]!;
    x = xp + K * nu[i]!;
    P = (1 - K) * Pp;
  }
  const windowStat = (w: number): { z: number; drop: number } => {
    // Regressor column h_s = g_s for s ≥ T − w, 0 before: filtered with the same gains.
    let xh = 0;
    let sgo = 0,
      sgg = 0;
    for (let i = n - w; i < n; i++) {
      const xhp = phi * xh;
      const nh = g[i]! - xhp;
      const F = f[i]!;
      if (F !== Infinity) {
        sgo += (nh * nu[i]!) / F;
        sgg += (nh * nh) / F;
      }
      xh = xhp + gain[i]! * nh;
    }
    if (!(sgg > 0)) return { z: 0, drop: 0 };
    const drop = -sgo / sgg;
    return { z: (drop - nullDrop) * Math.sqrt(sgg), drop };
  };
  let best = 0,
    bestW = 0;
  for (const w of ORACLE_WINDOWS) {
    if (w > n - 1 || T - w < since) break;
    const r = windowStat(w);
    if (r.z > best) {
      best = r.z;
      bestW = w;
    }
  }
  return { z: best, window: bestW, recentDrop: windowStat(Math.min(resolveWindow, n)).drop };
}

/** The oracle's alert state: pages on z ≥ h, resolves on a recovered recent estimate, then restarts its windows. */
export class OracleAlarm {
  firing = false;
  since = 0;
  constructor(
    readonly threshold: number,
    readonly minChange: number,
    readonly resolveWindow = 10,
    /** The shifted null of oracleLook (0: "no drop"). */
    readonly nullDrop = 0,
  ) {}

  /** One look at T with this alarm's windows and null. */
  look(facts: OracleFacts, T: number, arrived: (s: number) => number, scratch: OracleScratch): OracleLook {
    return oracleLook(facts, T, arrived, this.since, this.resolveWindow, scratch, this.nullDrop);
  }

  /** Applies one look; returns the transition it makes. */
  step(T: number, look: OracleLook): 'firing' | 'resolved' | null {
    if (!this.firing) {
      if (look.z >= this.threshold) {
        this.firing = true;
        return 'firing';
      }
      return null;
    }
    if (look.recentDrop < this.minChange / 2) {
      this.firing = false;
      this.since = T - this.resolveWindow;
      return 'resolved';
    }
    return null;
  }
}

/** Count of pages over looks T ∈ [from, to) of an incident-free stream, for threshold h. */
export function oraclePages(
  facts: OracleFacts,
  arrived: (T: number, s: number) => number,
  from: number,
  to: number,
  h: number,
  minChange: number,
  nullDrop = 0,
): number {
  const scratch = oracleScratch();
  const alarm = new OracleAlarm(h, minChange, 10, nullDrop);
  let pages = 0;
  for (let T = from; T < to; T++) {
    if (
      alarm.step(
        T,
        alarm.look(facts, T, (s) => arrived(T, s), scratch),
      ) === 'firing'
    )
      pages++;
  }
  return pages;
}

/**
 * The threshold h at which the oracle pages at most `falseAlarmsPerWeek` on the incident-free looks [from, to)
 * (bisection on h; pages fall monotonically with h up to the resolve restarts, so the bracket's upper end is
 * returned: a budget met, never exceeded, on the calibration stream).
 */
export function calibrateOracle(
  facts: OracleFacts,
  arrived: (T: number, s: number) => number,
  from: number,
  to: number,
  falseAlarmsPerWeek: number,
  minChange: number,
  log: (l: string) => void = () => {},
  nullDrop = 0,
): { threshold: number; pages: number; weeks: number } {
  const weeks = (to - from) / MINUTES_PER_WEEK;
  const budget = Math.floor(falseAlarmsPerWeek * weeks);
  let lo = nullDrop > 0 ? 0 : 2,
    hi = 8;
  let hiPages = oraclePages(facts, arrived, from, to, hi, minChange, nullDrop);
  while (hiPages > budget) {
    lo = hi;
    hi += 2;
    hiPages = oraclePages(facts, arrived, from, to, hi, minChange, nullDrop);
  }
  for (let i = 0; i < 9; i++) {
    const mid = (lo + hi) / 2;
    const p = oraclePages(facts, arrived, from, to, mid, minChange, nullDrop);
    log(`oracle calibration: h = ${mid.toFixed(3)} → ${p} pages in ${weeks.toFixed(1)} weeks`);
    if (p <= budget) {
      hi = mid;
      hiPages = p;
    } else lo = mid;
  }
  return { threshold: hi, pages: hiPages, weeks };
}

/** Cumulative arrivals of every cohort (all segments summed) by age: cum[s·A + k]. */
export function totalArrivals(perSegment: (j: number, s: number, out: Int32Array) => void, st: Stream): Int32Array {
  const A = st.maxAge + 1;
  const out = new Int32Array(st.minutes * A);
  const tmp = new Int32Array(A);
  for (let s = 0; s < st.minutes; s++) {
    for (let j = 0; j < st.segments.length; j++) {
      perSegment(j, s, tmp);
      for (let k = 0; k < A; k++) out[s * A + k] = out[s * A + k]! + tmp[k]!;
    }
  }
  return out;
}
