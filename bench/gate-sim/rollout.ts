/**
 * One simulated canary rollout on counts, for `npm run bench:gate`.
 *
 * Every minute `rate` entities enter (Poisson); each goes to the canary with probability `actualWeight` (the
 * router's realised split, = the expected weight unless the scenario misroutes), converts with probability
 * p (baseline) or p·(1 − drop) (canary), and its success arrives after a lag: the entity enters uniformly within its
 * minute and completes an exponential `lagMean` minutes later, so a cohort has delivered the share G(a) of its
 * successes at age a (G below; the cohort whose minute just ended has age 0, as in engine/completeness.ts).
 * The gate is asked at the end of every minute with the counts as they stand then: effective trials
 * entered × G(age) (src/gates/maturity.ts) and the successes that have arrived.
 *
 * At each look the same snapshot also feeds two references: a fixed-horizon one-sided z-test on the same counts
 * asked every minute ("peeking") and a Kayenta-style judge (Mann-Whitney U on the per-minute rates, 98 %
 * confidence, its default), each taken at its first `fail`.
 */
import { Rng } from '../detect-sim/prng.js';
import { effectiveTrials } from '../../src/gates/maturity.js';
import { addCohort, emptyArm, scoreAt } from '../../src/gates/stats-evidence.js';
import { type GateMinute, type GateTestConfig, runGateTest } from '../../src/gates/sequential-test.js';
import { normQuantile, normSf } from '../../src/detect/normal.js';

const MINUTE = 60_000;

export interface Scenario {
  /** Entries per minute (both arms). */
  rate: number;
  /** Expected canary weight (what the gate is told). */
  weight: number;
  /** Realised canary weight (default: weight). */
  actualWeight?: number;
  /** True relative drop of the canary's conversion. */
  drop: number;
  /** Baseline conversion. */
  p: number;
  /** Mean completion lag, minutes. */
  lagMean: number;
  /** Looks (minutes) at most. */
  minutes: number;
}

export interface RolloutResult {
  /** First decided verdict of the gate and the minute it came (null: none within the horizon). */
  gate: 'pass' | 'fail' | null;
  gateAt: number | null;
  /** A sample-ratio mismatch reported at some look. */
  srm: boolean;
  peekFailAt: number | null;
  kayentaFailAt: number | null;
}

/** Completeness G(a) for the lag model: 1 − m(e^(−a/m) − e^(−(a+1)/m)), cut to 1 once ≥ 1 − 1e-6. */
export function completenessCurve(lagMean: number): number[] {
  const g: number[] = [];
  for (let a = 0; ; a++) {
    const v = 1 - lagMean * (Math.exp(-a / lagMean) - Math.exp(-(a + 1) / lagMean));
    if (v >= 1 - 1e-6 || a > 600) break;
    g.push(v);
  }
  return g;
}

/** Entered and success arrivals (cumulative by age) of one arm's cohort. */
function cohort(rng: Rng, entered: number, p: number, curve: readonly number[]): Float64Array {
  const byAge = new Float64Array(curve.length + 1);
  let left = rng.binomial(entered, p);
  let prevG = 0;
  let cum = 0;
  for (let a = 0; a < curve.length; a++) {
    const g = curve[a]!;
    const k = left > 0 ? rng.binomial(left, (g - prevG) / (1 - prevG)) : 0;
    left -= k;
    cum += k;
    byAge[a] = cum;
    prevG = g;
  }
  byAge[curve.length] = cum + left;
  return byAge;
}

export function simulateRollout(
  sc: Scenario,
  cfg: GateTestConfig,
  curve: readonly number[],
  seed: number,
  refs: { peek: boolean; kayenta: boolean },
): RolloutResult {
  const rng = new Rng(seed, Math.round(sc.rate), Math.round(sc.weight * 1e4), Math.round(sc.drop * 1e4));
  const w = sc.actualWeight ?? sc.weight;
  const T = sc.minutes;
  const eC = new Float64Array(T);
  const eB = new Float64Array(T);
  const sC: Float64Array[] = [];
  const sB: Float64Array[] = [];
  for (let m = 0; m < T; m++) {
    const n = rng.poisson(sc.rate);
    eC[m] = rng.binomial(n, w);
    eB[m] = n - eC[m]!;
    sC.push(cohort(rng, eC[m]!, sc.p * (1 - sc.drop), curve));
    sB.push(cohort(rng, eB[m]!, sc.p, curve));
  }
  const res: RolloutResult = { gate: null, gateAt: null, srm: false, peekFailAt: null, kayentaFailAt: null };
  const zFail = normQuantile(1 - cfg.falseFail);
  const A = curve.length;
  const snap: GateMinute[] = [];
  let gateDone = false;
  let peekDone = !refs.peek;
  let kayDone = !refs.kayenta;
  const rc = new Float64Array(T);
  const rb = new Float64Array(T);
  for (let t = 1; t <= T && !(gateDone && peekDone && kayDone); t++) {
    const now = t * MINUTE;
    snap.length = 0;
    const c = emptyArm();
    const b = emptyArm();
    let k = 0;
    for (let m = 0; m < t; m++) {
      const age = Math.min(t - 1 - m, A);
      const ct = effectiveTrials(eC[m]!, m * MINUTE, now, curve);
      const bt = effectiveTrials(eB[m]!, m * MINUTE, now, curve);
      const cs = sC[m]![age]!;
      const bs = sB[m]![age]!;
      snap.push({
        start: m * MINUTE,
        canary: { trials: ct, successes: cs },
        baseline: { trials: bt, successes: bs },
        canaryEntered: eC[m]!,
        baselineEntered: eB[m]!,
      });
      addCohort(c, ct, cs, eC[m]!);
      addCohort(b, bt, bs, eB[m]!);
      if (ct > 0 && bt > 0) {
        rc[k] = cs / ct;
        rb[k] = bs / bt;
        k++;
      }
    }
    if (!gateDone) {
      const r = runGateTest(snap, cfg, { timeline: false });
      if (r.srm.mismatch) res.srm = true;
      if (r.verdict !== 'inconclusive') {
        res.gate = r.verdict;
        res.gateAt = t;
        gateDone = true;
      }
    }
    if (!peekDone) {
      const s = scoreAt(c, b, 0);
      if (s.info > 0 && s.score / Math.sqrt(s.info) <= -zFail) {
        res.peekFailAt = t;
        peekDone = true;
      }
    }
    if (!kayDone && k >= 3 && mannWhitneyLower(rc, rb, k) < 0.02) {
      res.kayentaFailAt = t;
      kayDone = true;
    }
  }
  return res;
}

/**
 * Two-sided Mann-Whitney U p-value (normal approximation with tie correction) when the canary's values tend to
 * be lower, 1 otherwise: Kayenta's default judge flags a metric when the two-sided test rejects at its confidence
 * and the canary is on the bad side.
 */
export function mannWhitneyLower(canary: Float64Array, baseline: Float64Array, k: number): number {
  const n = 2 * k;
  const vals = new Float64Array(n);
  const idx = new Uint32Array(n);
  for (let i = 0; i < k; i++) {
    vals[i] = canary[i]!;
    vals[k + i] = baseline[i]!;
  }
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((x, y) => vals[x]! - vals[y]!);
  let rankSumC = 0;
  let tie = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && vals[idx[j + 1]!] === vals[idx[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    const cnt = j - i + 1;
    if (cnt > 1) tie += cnt * cnt * cnt - cnt;
    for (let q = i; q <= j; q++) if (idx[q]! < k) rankSumC += rank;
    i = j + 1;
  }
  const u = rankSumC - (k * (k + 1)) / 2;
  const mu = (k * k) / 2;
  const sigma = Math.sqrt(((k * k) / 12) * (n + 1 - tie / (n * (n - 1))));
  if (!(sigma > 0) || u >= mu) return 1;
  return 2 * normSf((mu - u - 0.5) / sigma);
}

/**
 * The duration a fixed-horizon one-sided z-test must be planned for to detect the configured harm at the gate's
 * α with the gate's power, (z_α + z_β)²/θ1² of information, on the same lagged stream, two ways:
 * - `waitForMaturity` (what a team with a fixed analysis window does): enough minutes of entries for that
 *   information once complete, then the wait until the last cohort is 99 % complete (p99 of the lag);
 * - `corrected`: analysed as soon as the information reaches it counting young cohorts by their completeness,
 *   as the gate does (the most favourable fixed-horizon test; the harder reference for the gate).
 */
export function fixedHorizonMinutes(
  sc: Scenario,
  cfg: GateTestConfig,
  curve: readonly number[],
): { waitForMaturity: number; corrected: number } {
  const z = normQuantile(1 - cfg.falseFail) + normQuantile(cfg.power);
  const theta1 = Math.log(1 - cfg.drop);
  const need = (z * z) / (theta1 * theta1);
  const p = sc.p;
  const eC = sc.rate * sc.weight;
  const eB = sc.rate * (1 - sc.weight);
  // Information of log(rate ratio) with cohorts of completeness G: Σ E·pG/(1 − pG) per arm (stats-evidence.ts).
  const info = (t: number) => {
    let w = 0;
    for (let m = 0; m < t; m++) {
      const g = m < curve.length ? curve[m]! : 1;
      w += (p * g) / (1 - p * g);
    }
    return (eC * w * eB * w) / ((eC + eB) * w);
  };
  let corrected = 1;
  while (info(corrected) < need && corrected < 100_000) corrected++;
  const perMinuteMature = ((eC * eB) / (eC + eB)) * (p / (1 - p));
  const planned = Math.ceil(need / perMinuteMature);
  let p99 = 0;
  while (p99 < curve.length && curve[p99]! < 0.99) p99++;
  return { waitForMaturity: planned + p99, corrected };
}
