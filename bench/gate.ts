/**
 * `npm run bench:gate` — the canary gate's statistics on simulated rollouts (issue 19).
 *
 * Rollouts on counts (bench/gate-sim/rollout.ts): 1,000 and 100 checkouts a minute, canary weights 5 %, 10 % and
 * 20 %, conversion 0.6 (cohort started → completed) with a conversion lag (exponential, mean 3 minutes; the gate
 * sees successes as they arrive and counts young cohorts by their completeness), the gate (runGateTest, the very
 * function the daemon calls) asked every minute for up to 4 hours, configured `drop: 5%`, `false_fail: 5%`,
 * power 80 %, no warm-up (the simulation has no start-up artefacts), onTimeout inconclusive.
 *
 * - A/A: the share of rollouts the gate fails (`aa_false_fail_rate`, target ≤ 5 %), beside a fixed-horizon z-test
 *   asked every minute (`peeking_false_fail_rate`) and a Kayenta-style judge (Mann-Whitney U on per-minute rates);
 * - true drops of 5, 10, 20, 50 %: mean minutes to the gate's `fail` and their ratio to the duration a
 *   fixed-horizon test must be planned for to catch the configured 5 % at the same α with 80 % power, both with
 *   the lag: entries for the planned sample plus the wait until they are 99 % complete
 *   (`time_to_fail_ratio_fixed`), and, harder, analysed as soon as the completeness-corrected information suffices
 *   (`time_to_fail_ratio_fixed_corrected`);
 * - a canary getting twice its weight: `srm_detected` and never `pass`;
 * - minutes to `pass` for a healthy canary.
 *
 * Prints a readable table, then one JSON line. Options: --quick (fewer rollouts), --aa N (A/A rollouts per
 * configuration at 1,000 a minute, a quarter of it at 100), --runs N (per drop and for the SRM case, half at 100),
 * --seed N; for development --only 1000/min@10% (one configuration) and --tuning '{"fail":{…}}' (overrides
 * GATE_TUNING).
 */
import { GATE_TUNING, type GateTestConfig } from '../src/gates/sequential-test.js';
import {
  type RolloutResult,
  type Scenario,
  completenessCurve,
  fixedHorizonMinutes,
  simulateRollout,
} from './gate-sim/rollout.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const quick = process.argv.includes('--quick');
// At 100 a minute rollouts run for hours (the gate re-runs every minute over all of them): a quarter of the A/A
// rollouts and half the drop rollouts there keep a full run near 10 minutes on one core.
const aaRuns = arg('aa', quick ? 200 : 2000);
const dropRuns = arg('runs', quick ? 60 : 300);
const perRate = (n: number, rate: number, share: number) => (rate >= 1000 ? n : Math.max(1, Math.round(n * share)));
const seed = arg('seed', 1);
const log = (l: string) => console.error(`[bench:gate] ${l}`);
const sarg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const only = sarg('only');
const tuning = sarg('tuning');
if (tuning) Object.assign(GATE_TUNING, JSON.parse(tuning) as Partial<typeof GATE_TUNING>);

const HOURS4 = 240;
const cfg = (weight: number): GateTestConfig => ({
  drop: 0.05,
  falseFail: 0.05,
  power: 0.8,
  expectedWeight: weight,
  warmupMs: 0,
  maxDurationMs: HOURS4 * 60_000,
  onTimeout: 'inconclusive',
  onSrm: 'hold',
});
const LAG_MEAN = 3;
const P = 0.6;
const curve = completenessCurve(LAG_MEAN);
const drops = [0.05, 0.1, 0.2, 0.5];
const weights = [0.05, 0.1, 0.2];
const rates = [1000, 100];

interface Agg {
  n: number;
  fail: number;
  pass: number;
  failMinutes: number[];
  passMinutes: number[];
  srm: number;
  peekFail: number;
  peekMinutes: number[];
  kayFail: number;
  kayMinutes: number[];
}

function run(sc: Scenario, runs: number, salt: number, kayenta: boolean): Agg {
  const a: Agg = {
    n: runs,
    fail: 0,
    pass: 0,
    failMinutes: [],
    passMinutes: [],
    srm: 0,
    peekFail: 0,
    peekMinutes: [],
    kayFail: 0,
    kayMinutes: [],
  };
  for (let i = 0; i < runs; i++) {
    const r: RolloutResult = simulateRollout(sc, cfg(sc.weight), curve, seed * 1_000_003 + salt * 10_007 + i, {
      peek: true,
      kayenta,
    });
    if (r.gate === 'fail') {
      a.fail++;
      a.failMinutes.push(r.gateAt!);
    } else if (r.gate === 'pass') {
      a.pass++;
      a.passMinutes.push(r.gateAt!);
    }
    if (r.srm) a.srm++;
    if (r.peekFailAt !== null) {
      a.peekFail++;
      a.peekMinutes.push(r.peekFailAt);
    }
    if (r.kayentaFailAt !== null) {
      a.kayFail++;
      a.kayMinutes.push(r.kayentaFailAt);
    }
  }
  return a;
}

const mean = (xs: number[]) => (xs.length ? round(xs.reduce((s, x) => s + x, 0) / xs.length, 1) : null);
const quantile = (xs: number[], q: number) => {
  if (!xs.length) return null;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
function round(x: number, d = 3): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}
const pctOf = (k: number, n: number) => `${round((100 * k) / n, 1)}%`;

const t0 = Date.now();
const rows: string[][] = [
  [
    'traffic',
    'weight',
    'case',
    'runs',
    'gate fail',
    'gate pass',
    'min to fail mean (p90)',
    'ratio to fixed / corrected',
    'min to pass mean',
    'peeking z fail',
    'Kayenta MWU fail (mean min)',
  ],
];
const json: Record<string, unknown> = {};
const byConfig: Record<string, Record<string, unknown>> = {};
let aaFailAll = 0;
let aaRunsAll = 0;
let peekAll = 0;
let kayAll = 0;
let kayRunsAll = 0;
let srmRuns = 0;
let srmHit = 0;
let srmPass = 0;

let salt = 0;
for (const rate of rates) {
  for (const weight of weights) {
    const key = `${rate}/min@${Math.round(weight * 100)}%`;
    if (only && only !== key) continue;
    const base: Scenario = { rate, weight, drop: 0, p: P, lagMean: LAG_MEAN, minutes: HOURS4 };
    const fh = fixedHorizonMinutes(base, cfg(weight), curve);
    const fixed = fh.waitForMaturity;
    const kay = rate === 1000;
    const entry: Record<string, unknown> = { fixed_horizon_min: fixed, fixed_horizon_corrected_min: fh.corrected };
    log(`${key}: A/A × ${perRate(aaRuns, rate, 0.25)} (fixed horizon ${fixed} min, ${fh.corrected} corrected)`);
    const aa = run(base, perRate(aaRuns, rate, 0.25), ++salt, kay);
    aaFailAll += aa.fail;
    aaRunsAll += aa.n;
    peekAll += aa.peekFail;
    if (kay) {
      kayAll += aa.kayFail;
      kayRunsAll += aa.n;
    }
    entry.aa_false_fail_rate = round(aa.fail / aa.n, 4);
    entry.aa_pass_rate = round(aa.pass / aa.n, 4);
    entry.minutes_to_pass_mean = mean(aa.passMinutes);
    entry.peeking_false_fail_rate = round(aa.peekFail / aa.n, 4);
    if (kay) entry.kayenta_false_fail_rate = round(aa.kayFail / aa.n, 4);
    rows.push([
      `${rate}/min`,
      `${Math.round(weight * 100)}%`,
      'A/A',
      String(aa.n),
      pctOf(aa.fail, aa.n),
      pctOf(aa.pass, aa.n),
      '',
      '',
      String(mean(aa.passMinutes) ?? '-'),
      pctOf(aa.peekFail, aa.n),
      kay ? pctOf(aa.kayFail, aa.n) : 'n/a',
    ]);
    const ttf: Record<string, number | null> = {};
    const ttfRatio: Record<string, number | null> = {};
    const ttfRatioCorr: Record<string, number | null> = {};
    const kayTtf: Record<string, number | null> = {};
    const power: Record<string, number> = {};
    for (const drop of drops) {
      log(`${key}: drop ${drop * 100}% × ${perRate(dropRuns, rate, 0.5)}`);
      const r = run({ ...base, drop }, perRate(dropRuns, rate, 0.5), ++salt, kay);
      const label = `${Math.round(drop * 100)}%`;
      const m = mean(r.failMinutes);
      ttf[label] = m;
      ttfRatio[label] = m === null ? null : round(m / fixed, 3);
      ttfRatioCorr[label] = m === null ? null : round(m / fh.corrected, 3);
      power[label] = round(r.fail / r.n, 3);
      if (kay) kayTtf[label] = mean(r.kayMinutes);
      rows.push([
        `${rate}/min`,
        `${Math.round(weight * 100)}%`,
        `drop ${label}`,
        String(r.n),
        pctOf(r.fail, r.n),
        pctOf(r.pass, r.n),
        m === null ? '-' : `${m} (${quantile(r.failMinutes, 0.9)})`,
        m === null ? '-' : `${round(m / fixed, 2)} / ${round(m / fh.corrected, 2)}`,
        '',
        `${pctOf(r.peekFail, r.n)} (${mean(r.peekMinutes) ?? '-'})`,
        kay ? `${pctOf(r.kayFail, r.n)} (${mean(r.kayMinutes) ?? '-'})` : 'n/a',
      ]);
    }
    entry.mean_minutes_to_fail = ttf;
    entry.time_to_fail_ratio_fixed = ttfRatio;
    entry.time_to_fail_ratio_fixed_corrected = ttfRatioCorr;
    entry.fail_rate = power;
    if (kay) entry.kayenta_mean_minutes_to_fail = kayTtf;
    log(`${key}: twice the weight × ${perRate(dropRuns, rate, 0.5)}`);
    const srm = run({ ...base, actualWeight: 2 * weight }, perRate(dropRuns, rate, 0.5), ++salt, false);
    srmRuns += srm.n;
    srmHit += srm.srm;
    srmPass += srm.pass;
    entry.srm_detected_rate = round(srm.srm / srm.n, 4);
    entry.srm_pass = srm.pass;
    rows.push([
      `${rate}/min`,
      `${Math.round(weight * 100)}%`,
      `SRM: gets ${Math.round(200 * weight)}%`,
      String(srm.n),
      pctOf(srm.fail, srm.n),
      pctOf(srm.pass, srm.n),
      `SRM found in ${pctOf(srm.srm, srm.n)}`,
      '',
      '',
      '',
      '',
    ]);
    byConfig[key] = entry;
  }
}

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
console.log(
  '\nCanary gate (drop 5%, false_fail 5%, power 80%), asked every minute for up to 4 h; conversion 0.6, ' +
    `exponential lag mean ${LAG_MEAN} min. Minutes from the rollout start; ratio = mean minutes to fail ÷ the ` +
    'duration of a fixed-horizon test planned for the 5% harm (same α, 80% power): entries for the planned ' +
    'sample, then the wait until its last cohort is 99% complete / analysed as soon as the completeness-corrected ' +
    'information suffices (the favourable variant).',
);
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
const head = byConfig[only ?? '1000/min@10%']!;
console.log(
  `\nA/A false fails: ${pctOf(aaFailAll, aaRunsAll)} of ${aaRunsAll} rollouts (peeking z-test ` +
    `${pctOf(peekAll, aaRunsAll)}, Kayenta MWU ${kayRunsAll ? pctOf(kayAll, kayRunsAll) : 'n/a'}); ` +
    `SRM at twice the weight found in ` +
    `${pctOf(srmHit, srmRuns)}, passed ${srmPass} times. ${round((Date.now() - t0) / 1000, 1)} s.`,
);

json.aa_false_fail_rate = round(aaFailAll / aaRunsAll, 4);
json.aa_rollouts = aaRunsAll;
json.peeking_false_fail_rate = round(peekAll / aaRunsAll, 4);
json.kayenta_false_fail_rate = kayRunsAll ? round(kayAll / kayRunsAll, 4) : null;
json.time_to_fail_ratio_fixed = head.time_to_fail_ratio_fixed;
json.time_to_fail_ratio_fixed_corrected = head.time_to_fail_ratio_fixed_corrected;
json.mean_minutes_to_fail = head.mean_minutes_to_fail;
json.kayenta_mean_minutes_to_fail = head.kayenta_mean_minutes_to_fail;
json.fixed_horizon_min = head.fixed_horizon_min;
json.fixed_horizon_corrected_min = head.fixed_horizon_corrected_min;
json.minutes_to_pass_healthy = head.minutes_to_pass_mean;
json.srm_detected = srmHit / srmRuns >= 0.95 && srmPass === 0;
json.srm_detected_rate = round(srmHit / srmRuns, 4);
json.srm_pass = srmPass;
json.by_config = byConfig;
json.headline = only ?? '1000/min@10%';
json.tuning = GATE_TUNING;
json.runs = { aa: aaRuns, per_drop: dropRuns, seed, quick };
console.log(JSON.stringify(json));
