/**
 * The canary gate's decision: a sequential test on the counts of a canary and its baseline, valid however often it
 * is asked (see stats-evidence.ts for the statistics, stats-srm.ts for the sample-ratio check and
 * docs/gate-statistics.md for the design and the bench).
 *
 * Pure and stateless: the caller passes the per-minute counts since the comparison started (oldest first) and the
 * test replays every minute from the first, so any replica gives the same answer and the timeline of verdicts
 * falls out of the same run. Decisions are sticky: once `fail` or `pass` is reached at some minute the test has
 * stopped, except that a sample-ratio mismatch found later withdraws a `pass`.
 */
import { normQuantile } from '../detect/normal.js';
import {
  type ArmData,
  addCohort,
  armRate,
  emptyArm,
  type EvidenceDesign,
  type SideDesign,
  confidenceBounds,
  decisionEvidence,
  logEvidenceAbove,
  logEvidenceBelow,
  scoreAt,
} from './stats-evidence.js';
import { srmLogBayesFactor } from './stats-srm.js';

/** One arm's counts in one minute: cohort conversion = entities that entered `from` in that minute (trials) and
 *  how many of them reached `to` (successes); ratio conversion = events at `from` / at `to` in that minute.
 *  `trials` may be fractional: the integration passes effective trials for cohorts not yet mature
 *  (entered × completeness at their age, see maturity.ts), so the rate successes/trials stays unbiased. */
export interface ArmCounts {
  trials: number;
  successes: number;
}

export interface GateMinute {
  /** Minute start, epoch ms (event time). */
  start: number;
  canary: ArmCounts;
  baseline: ArmCounts;
  /** Entities that entered, before any maturity correction (for the sample-ratio check and the variance of
   *  young cohorts). Default: trials. */
  canaryEntered?: number;
  baselineEntered?: number;
}

export interface GateTestConfig {
  /** Smallest relative harm that matters: drop 5% -> 0.05 (canary rate <= (1 - drop) x baseline rate). */
  drop: number;
  /** Probability of failing a canary that is as good as its baseline (alpha), e.g. 0.05. */
  falseFail: number;
  /** Probability of passing a canary whose harm is `drop` or worse is 1 - power, e.g. power 0.8. */
  power: number;
  /** Expected canary share of entries (0..1); undefined: no sample-ratio check. */
  expectedWeight?: number;
  /** Minutes before start + warmupMs are ignored (ms); start = the first minute given. */
  warmupMs: number;
  /** After this much data time (ms, from the first minute after warm-up) an undecided test answers onTimeout. */
  maxDurationMs: number;
  onTimeout: 'fail' | 'pass' | 'inconclusive';
  /** What a sample-ratio mismatch does: 'hold' keeps the verdict inconclusive (never pass), 'fail' fails. */
  onSrm: 'hold' | 'fail';
  /** Anytime-valid p-value below which the split is a mismatch (default 0.001, as GrowthBook and Statsig). */
  srmPValue?: number;
}

export interface GateTestOptions {
  /** Build the timeline (default true). Without it the looks that cannot decide are skipped; every other field
   *  of the result is the same (the bench asks the gate every minute of thousands of rollouts). */
  timeline?: boolean;
}

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export type GateReason =
  'harm_established' | 'harm_ruled_out' | 'srm' | 'warming_up' | 'no_data' | 'collecting' | 'timeout';

export interface GateLook {
  /** End of the minute this look includes (start + 60 000). */
  at: number;
  verdict: Verdict;
  /** Evidence against "no harm" (fail side) and against "harm >= drop" (pass side), e-values: the fail side
   *  decides at >= 1/falseFail, the pass side at >= 1/(1 - power). */
  failEvidence: number;
  passEvidence: number;
  srmMismatch: boolean;
}

export interface GateTestResult {
  verdict: Verdict;
  reason: GateReason;
  /** One plain sentence for people. */
  explanation: string;
  /** When the verdict was first reached (end of that minute); undefined while inconclusive. */
  decidedAt?: number;
  /** Counts used (up to the decision once decided; trials are effective trials) and the maximum-likelihood
   *  rate (successes/trials when all cohorts are mature). */
  canary: { trials: number; successes: number; rate: number | null };
  baseline: { trials: number; successes: number; rate: number | null };
  /** Relative effect canary/baseline - 1 (negative = canary worse) with anytime-valid confidence bounds (a
   *  confidence sequence) that invert the two tests: `upper` at confidence 1 - falseFail (fail <=> upper < 0),
   *  `lower` at confidence `power` (pass <=> lower > -drop); jointly `level` = 1 - falseFail - (1 - power).
   *  Nulls when there is no data (or no bound within a factor e^20). Taken at the decision once decided. */
  effect: {
    estimate: number | null;
    lower: number | null;
    upper: number | null;
    level: number;
    lowerConfidence: number;
    upperConfidence: number;
  };
  srm: {
    checked: boolean;
    expectedWeight?: number;
    observedWeight: number | null;
    pValue: number | null;
    mismatch: boolean;
  };
  /** Minutes of data used (after warm-up, up to the decision) and the estimated minutes to a decision at the
   *  current traffic and effect (null when it cannot be estimated, 0 when decided). */
  minutesUsed: number;
  minutesToDecision: number | null;
  warmupExcludedMinutes: number;
  timeline: GateLook[];
}

const MINUTE = 60_000;

const DEFAULT_SRM_P = 0.001;

/**
 * Tuning of the two e-processes, in units of the configured harm |log(1 − drop)| (measured with
 * `npm run bench:gate`, see docs/gate-statistics.md). Fail side: Wald's ratio at the configured harm carries most
 * weight (fastest at the harm that matters, as a fixed-horizon test is planned for), ratios at 2.5× and 4× the harm
 * make larger drops fail nearly as fast as a test planned for them, and a little mSPRT fails a canary that is
 * clearly worse by less than the harm once the data are plentiful (Wald's ratios alone would pass it). Pass side:
 * Wald's ratio at the harm, with a little mSPRT so that the confidence bound it inverts to narrows as data
 * accumulates.
 */
export const GATE_TUNING = {
  fail: {
    wald: [
      { weight: 0.35, multiple: 1 },
      { weight: 0.25, multiple: 2.5 },
      { weight: 0.3, multiple: 4 },
    ],
    msprtWeight: 0.1,
    tauOverHarm: 2,
  },
  pass: { wald: [{ weight: 0.9, multiple: 1 }], msprtWeight: 0.1, tauOverHarm: 3 },
};

export function validateGateConfig(c: GateTestConfig): string | null {
  if (!(c.drop > 0 && c.drop < 1)) return `drop must be in (0, 1), got ${c.drop}`;
  if (!(c.falseFail > 0 && c.falseFail < 0.5)) return `falseFail must be in (0, 0.5), got ${c.falseFail}`;
  if (!(c.power > 0.5 && c.power < 1)) return `power must be in (0.5, 1), got ${c.power}`;
  if (c.expectedWeight !== undefined && !(c.expectedWeight > 0 && c.expectedWeight < 1))
    return `expectedWeight must be in (0, 1), got ${c.expectedWeight}`;
  if (!(c.warmupMs >= 0)) return `warmupMs must be >= 0, got ${c.warmupMs}`;
  if (!(c.maxDurationMs > 0)) return `maxDurationMs must be > 0, got ${c.maxDurationMs}`;
  if (c.srmPValue !== undefined && !(c.srmPValue > 0 && c.srmPValue < 1))
    return `srmPValue must be in (0, 1), got ${c.srmPValue}`;
  return null;
}

/** Information a fixed-horizon one-sided z-test needs to detect the harm at level α with the given power. */
export function fixedHorizonInformation(drop: number, falseFail: number, power: number): number {
  const z = normQuantile(1 - falseFail) + normQuantile(power);
  const theta1 = Math.log(1 - drop);
  return (z * z) / (theta1 * theta1);
}

export function evidenceDesign(c: GateTestConfig): EvidenceDesign {
  const theta1 = Math.log(1 - c.drop);
  const side = (t: (typeof GATE_TUNING)['fail']): SideDesign => ({
    wald: t.wald,
    msprtWeight: t.msprtWeight,
    tau2: (t.tauOverHarm * theta1) ** 2,
  });
  return { theta1, fail: side(GATE_TUNING.fail), pass: side(GATE_TUNING.pass) };
}

interface Frozen {
  c: ArmData;
  b: ArmData;
  theta: number | null;
  logFail: number;
  logPass: number;
  minutesUsed: number;
}

/** An e-value from its log, capped at the largest double (JSON has no Infinity). */
const eValue = (log: number) => Math.min(Math.exp(log), Number.MAX_VALUE);

const pos = (v: number) => (Number.isFinite(v) && v > 0 ? v : 0);

/** Run the sequential test over the minutes (oldest first; missing minutes count as zero). */
export function runGateTest(
  minutes: readonly GateMinute[],
  config: GateTestConfig,
  options: GateTestOptions = {},
): GateTestResult {
  const withTimeline = options.timeline ?? true;
  const bad = validateGateConfig(config);
  if (bad) throw new RangeError(`gate test config: ${bad}`);
  const alpha = config.falseFail;
  const beta = 1 - config.power;
  const logFailAt = Math.log(1 / alpha);
  const logPassAt = Math.log(1 / beta);
  const logSrmAt = Math.log(1 / (config.srmPValue ?? DEFAULT_SRM_P));
  const w0 = config.expectedWeight;
  const design = evidenceDesign(config);

  const sorted = [...minutes].sort((x, y) => x.start - y.start);
  const first = sorted[0]?.start ?? 0;
  const dataStart = first + Math.ceil(config.warmupMs / MINUTE) * MINUTE;
  const slots = sorted.length ? Math.floor((sorted[sorted.length - 1]!.start - first) / MINUTE) + 1 : 0;
  const bySlot: (GateMinute | undefined)[] = new Array<GateMinute | undefined>(slots);
  for (const m of sorted) {
    const k = Math.floor((m.start - first) / MINUTE);
    const prev = bySlot[k];
    bySlot[k] = prev ? mergeMinutes(prev, m) : m;
  }

  const c = emptyArm();
  const b = emptyArm();
  let cEntered = 0;
  let bEntered = 0;
  let srmLogMax = 0; // running max of log BF = −log of the running min of 1/BF
  let srmMismatch = false;
  let verdict: Verdict = 'inconclusive';
  let reason: GateReason = slots === 0 ? 'no_data' : 'warming_up';
  let decidedAt: number | undefined;
  let passWithdrawn = false;
  let frozen: Frozen | null = null;
  let cur: Frozen = { c, b, theta: null, logFail: 0, logPass: 0, minutesUsed: 0 };
  let warmupExcluded = 0;
  const timeline: GateLook[] = [];

  for (let k = 0; k < slots; k++) {
    const start = first + k * MINUTE;
    const at = start + MINUTE;
    if (start < dataStart) {
      warmupExcluded++;
      continue;
    }
    const m = bySlot[k];
    const ct = m ? pos(m.canary.trials) : 0;
    const bt = m ? pos(m.baseline.trials) : 0;
    const ce = m ? Math.max(pos(m.canaryEntered ?? ct), ct) : 0;
    const be = m ? Math.max(pos(m.baselineEntered ?? bt), bt) : 0;
    cEntered += ce;
    bEntered += be;
    if (w0 !== undefined && cEntered + bEntered > 0) {
      srmLogMax = Math.max(srmLogMax, srmLogBayesFactor([cEntered, bEntered], [w0, 1 - w0]));
      if (srmLogMax >= logSrmAt) srmMismatch = true;
    }
    if (frozen) {
      // The test has stopped; it still watches the split: a mismatch found later withdraws a pass.
      if (verdict === 'pass' && srmMismatch) {
        passWithdrawn = true;
        if (config.onSrm === 'fail') {
          verdict = 'fail';
          decidedAt = at;
        } else {
          verdict = 'inconclusive';
          decidedAt = undefined;
        }
        reason = 'srm';
      }
      if (withTimeline) timeline.push(look(at, frozen));
      continue;
    }
    if (m) {
      addCohort(c, ct, pos(m.canary.successes), ce);
      addCohort(b, bt, pos(m.baseline.successes), be);
    }
    // A look may decide when it is the newest one or when all its cohorts are mature: only then is it the same
    // look every later re-run replays (young cohorts' counts grow, so an older look replayed with today's counts
    // is a path nobody saw; letting those decide would add paths and fail good canaries more often than α).
    const canDecide = k === slots - 1 || (c.youngE.length === 0 && b.youngE.length === 0);
    const timedOut = at - dataStart >= config.maxDurationMs;
    const srmFails = srmMismatch && config.onSrm === 'fail';
    if (!canDecide && !timedOut && !srmFails && !withTimeline) {
      cur = { ...cur, minutesUsed: cur.minutesUsed + 1 };
      continue;
    }
    const ev = decisionEvidence(c, b, design);
    cur = {
      c,
      b,
      theta: ev ? ev.theta : null,
      logFail: ev ? ev.logFail : 0,
      logPass: ev ? ev.logPass : 0,
      minutesUsed: cur.minutesUsed + 1,
    };
    reason = srmMismatch ? 'srm' : 'collecting';
    if (srmFails) decide('fail', 'srm', at);
    else if (canDecide && cur.logFail >= logFailAt) decide('fail', 'harm_established', at);
    else if (canDecide && cur.logPass >= logPassAt && !srmMismatch) decide('pass', 'harm_ruled_out', at);
    else if (timedOut) {
      // The longest duration: the configured answer, except that a mismatch never passes.
      if (config.onTimeout === 'fail' || (config.onTimeout === 'pass' && !srmMismatch)) {
        verdict = config.onTimeout;
        decidedAt = at;
        reason = 'timeout';
      } else reason = srmMismatch ? 'srm' : 'timeout';
      freeze();
    }
    if (withTimeline) timeline.push(look(at, cur));
  }
  if (cur.minutesUsed === 0 && slots > 0 && !frozen) reason = 'warming_up';

  function decide(v: Verdict, r: GateReason, at: number): void {
    verdict = v;
    reason = r;
    decidedAt = at;
    freeze();
  }
  function freeze(): void {
    frozen = { ...cur, c: cloneArm(c), b: cloneArm(b) };
  }
  function look(at: number, f: Frozen): GateLook {
    return { at, verdict, failEvidence: eValue(f.logFail), passEvidence: eValue(f.logPass), srmMismatch };
  }

  const fin: Frozen = frozen ?? cur;
  const rate = (arm: ArmData) => {
    const p = armRate(arm);
    return p === null ? null : arm.x > 0 ? Math.min(1, p) : 0;
  };
  const bounds = fin.theta === null ? null : confidenceBounds(fin.c, fin.b, design, alpha, beta);
  const finite = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? Math.expm1(v) : null);
  const observedWeight = cEntered + bEntered > 0 ? cEntered / (cEntered + bEntered) : null;
  const result: GateTestResult = {
    verdict,
    reason,
    explanation: '',
    ...(decidedAt !== undefined ? { decidedAt } : {}),
    canary: { trials: fin.c.n, successes: fin.c.x, rate: rate(fin.c) },
    baseline: { trials: fin.b.n, successes: fin.b.x, rate: rate(fin.b) },
    effect: {
      estimate: fin.theta === null ? null : Math.expm1(fin.theta),
      lower: finite(bounds?.lower),
      upper: finite(bounds?.upper),
      level: 1 - alpha - beta,
      lowerConfidence: 1 - beta,
      upperConfidence: 1 - alpha,
    },
    srm: {
      checked: w0 !== undefined,
      ...(w0 !== undefined ? { expectedWeight: w0 } : {}),
      observedWeight,
      pValue: w0 !== undefined && observedWeight !== null ? Math.min(1, Math.exp(-srmLogMax)) : null,
      mismatch: srmMismatch,
    },
    minutesUsed: fin.minutesUsed,
    minutesToDecision: null,
    warmupExcludedMinutes: warmupExcluded,
    timeline,
  };
  result.minutesToDecision = estimateMinutes(result, fin, logFailAt, logPassAt, design);
  result.explanation = explain(result, config, passWithdrawn);
  return result;
}

function cloneArm(a: ArmData): ArmData {
  return { ...a, youngE: [...a.youngE], youngG: [...a.youngG], youngX: [...a.youngX] };
}

function mergeMinutes(a: GateMinute, b: GateMinute): GateMinute {
  return {
    start: a.start,
    canary: { trials: a.canary.trials + b.canary.trials, successes: a.canary.successes + b.canary.successes },
    baseline: {
      trials: a.baseline.trials + b.baseline.trials,
      successes: a.baseline.successes + b.baseline.successes,
    },
    canaryEntered: (a.canaryEntered ?? a.canary.trials) + (b.canaryEntered ?? b.canary.trials),
    baselineEntered: (a.baselineEntered ?? a.baseline.trials) + (b.baselineEntered ?? b.baseline.trials),
  };
}

/**
 * Minutes until either e-value reaches its boundary if the effect stays at its estimate and the information keeps
 * growing at its average rate so far (the expected path). Null without data, after a timeout, under a mismatch,
 * or when no boundary is reached within 100 times the minutes used so far.
 */
function estimateMinutes(
  r: GateTestResult,
  f: Frozen,
  logFailAt: number,
  logPassAt: number,
  d: EvidenceDesign,
): number | null {
  if (r.verdict !== 'inconclusive') return 0;
  if (r.reason !== 'collecting' || f.theta === null || f.minutesUsed <= 0) return null;
  const theta = f.theta;
  const failInfo = scoreAt(f.c, f.b, 0).info / f.minutesUsed;
  const passInfo = scoreAt(f.c, f.b, d.theta1).info / f.minutesUsed;
  if (!(failInfo > 0 && passInfo > 0)) return null;
  const decided = (mins: number) =>
    logEvidenceBelow(theta * failInfo * mins, failInfo * mins, d) >= logFailAt ||
    logEvidenceAbove((theta - d.theta1) * passInfo * mins, passInfo * mins, d) >= logPassAt;
  const cap = 100 * f.minutesUsed;
  let hi = f.minutesUsed + 1;
  while (!decided(hi)) {
    if (hi > cap) return null;
    hi *= 2;
  }
  let lo = Math.max(f.minutesUsed, Math.floor(hi / 2));
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (decided(mid)) hi = mid;
    else lo = mid;
  }
  return Math.max(1, hi - f.minutesUsed);
}

const pText = (p: number) => (p < 1e-6 ? 'p < 0.000001' : `p = ${p.toPrecision(2)}`);
const pct = (v: number, digits = 1) => `${(v * 100).toFixed(digits)}%`;
const signedPct = (v: number) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;

function explain(r: GateTestResult, c: GateTestConfig, passWithdrawn: boolean): string {
  const drop = pct(c.drop, c.drop * 100 >= 10 ? 0 : 1).replace(/\.0%$/, '%');
  const conf = (v: number) => `${Math.round(v * 100)}%`;
  const bounds = [
    r.effect.upper !== null ? `at most ${signedPct(r.effect.upper)} with ${conf(r.effect.upperConfidence)}` : '',
    r.effect.lower !== null ? `at least ${signedPct(r.effect.lower)} with ${conf(r.effect.lowerConfidence)}` : '',
  ].filter((x) => x);
  const rates =
    r.canary.rate !== null && r.baseline.rate !== null
      ? `the canary converts ${pct(r.canary.rate)} against the baseline's ${pct(r.baseline.rate)}`
      : '';
  const interval =
    r.effect.estimate !== null
      ? `a relative effect of ${signedPct(r.effect.estimate)}` +
        (bounds.length ? ` (anytime-valid: ${bounds.join(', ')} confidence)` : '')
      : '';
  const mins = (n: number) => `${n} minute${n === 1 ? '' : 's'}`;
  const used = `${mins(r.minutesUsed)} of data`;
  const srmText = () =>
    `the canary received ${pct(r.srm.observedWeight ?? 0)} of the entries where ${pct(r.srm.expectedWeight ?? 0)} ` +
    `was expected (sample-ratio mismatch, ${pText(r.srm.pValue ?? 1)})`;
  switch (r.reason) {
    case 'no_data':
      return 'No data yet for the canary and the baseline.';
    case 'warming_up':
      return (
        `Warming up: the first ${mins(Math.ceil(c.warmupMs / MINUTE))} after the start are ignored ` +
        `(${mins(r.warmupExcludedMinutes)} of data so far).`
      );
    case 'harm_established':
      return `Fail: ${rates}, ${interval}; harm is established after ${used}.`;
    case 'harm_ruled_out':
      return `Pass: ${rates}, ${interval}; a drop of ${drop} or more is ruled out after ${used}.`;
    case 'srm':
      return r.verdict === 'fail'
        ? `Fail: ${srmText()}; the comparison cannot be trusted and the gate is configured to fail on it.`
        : `Held: ${srmText()}; the comparison cannot be trusted, so the gate will not pass${
            passWithdrawn ? ' (an earlier pass is withdrawn)' : ''
          }.`;
    case 'timeout':
      return (
        `No decision after ${mins(r.minutesUsed)} of data, the longest duration, and the gate is configured to ` +
        `answer ${c.onTimeout} then; ${rates ? `${rates}, ${interval}` : 'no usable counts'}.`
      );
    default: {
      if (r.minutesUsed === 0 || r.effect.estimate === null)
        return 'Collecting: not enough counts in both arms to compare yet.';
      const eta =
        r.minutesToDecision !== null
          ? `; at the current traffic and effect a decision is about ${mins(r.minutesToDecision)} away`
          : '';
      return (
        `Collecting: after ${mins(r.minutesUsed)} ${rates}, ${interval}; neither harm of ${drop} nor its ` +
        `absence is established yet${eta}.`
      );
    }
  }
}
