/**
 * Detection quality of funnelwatch itself: the simulated stream (stream.ts) fed to the daemon's real Evaluator
 * (src/engine/evaluator.ts: rule → series per segment value → baselines, noise, learned completeness → scan
 * detector → alert state machine), one tick per simulated minute, at the level the window store holds.
 *
 * The only parts replaced are the edges the Evaluator takes as ports: the funnel data (a StreamSource reading the
 * stream's per-minute cohort counts as they would have arrived by each tick, instead of Redis), the alert-state
 * store (in memory), the lease (always held) and the notifier (collects transitions). Pages are 'firing'
 * transitions of any series of the rule: the rule's budget covers its segment values too.
 *
 * Accounting (as harness.ts, so the figures compare with its reference rules and limits):
 * - a tick at minute boundary T (plus lookDelaySec) sees cohorts up to T−1 with the completions arrived by then;
 * - false alarms: pages outside labelled incidents (+2 h) over the evaluation weeks;
 * - delay: T_page + lookDelay − τ for drops injected at τ (completions of affected cohorts thinned from τ on);
 *   episodes where the rule was already firing at τ are excluded (pre-alarmed); none within the horizon is a miss.
 */
import type { FunnelDef } from '../../src/funnels/funnel.js';
import type { AlertRuleDef } from '../../src/rules/rule.js';
import type { RuleSet } from '../../src/rules/rule-set.js';
import { Evaluator, type AlertStatePort } from '../../src/engine/evaluator.js';
import { alertKey } from '../../src/model/alert-key.js';
import type { AlertState } from '../../src/model/alert-state.js';
import type { AlertTransition } from '../../src/model/alert-transition.js';
import type { CompletenessState } from '../../src/engine/completeness.js';
import type { FunnelNeeds, FunnelSource } from '../../src/engine/funnel-data.js';
import type { BucketView, SegmentRef, SeriesReader } from '../../src/detect/series-reader.js';
import { createLogger } from '../../src/obs/logger.js';
import { cusumDelayLimit } from '../../src/detect/index.js';
import { Rng } from './prng.js';
import { cohortArrivals, generateStream, MINUTES_PER_WEEK, type Stream } from './stream.js';
import { calibrateOracle, OracleAlarm, oracleFacts, oracleScratch, totalArrivals } from './oracle.js';

const MIN = 60_000;
/** Epoch of stream minute 0: a Monday 00:00 UTC, so minute-of-week lines up with the stream's weeks. */
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

export interface EvaluatorQualityOptions {
  stream: Stream;
  warmupWeeks: number;
  evalWeeks: number;
  episodesPerSize: number;
  dropSizes: number[];
  segmentDrop: { segment: string; size: number };
  onsetTraffic: [number, number];
  rule: AlertRuleDef;
  /** Also run the episodes with onsets at this traffic (quiet hours), reported without a target. */
  quietTraffic?: [number, number];
  /** Incident-free weeks of a separate stream (seed + 7919) the oracle's threshold is calibrated on. */
  oracleCalibrationWeeks: number;
  log?: (line: string) => void;
}

export interface EvalDelayStats {
  n: number;
  detected: number;
  pre_alarmed: number;
  mean: number;
  p90: number;
  limit: number;
  /** Mean minutes from the end of the drop (30 min after the page) to the resolve; episodes resolved / paged. */
  resolve_mean: number;
  resolved: number;
}

export interface EpisodeSet {
  delays: Record<string, EvalDelayStats>;
  delay_ratio: Record<string, number>;
  segment_drop: EvalDelayStats;
  segment_named: number;
  /** The clairvoyant reference (oracle.ts) on the same episodes. */
  oracle: Record<string, EvalDelayStats>;
  oracle_segment: EvalDelayStats;
  /** The oracle held to funnelwatch's shifted null (drops under half the minimum change do not page). */
  oracle_shifted: Record<string, EvalDelayStats>;
}

export interface EvaluatorQualityReport {
  fa_per_week: number;
  fa_count: number;
  delays: Record<string, EvalDelayStats>;
  delay_ratio: Record<string, number>;
  segment_drop: EvalDelayStats;
  segment_named: number;
  /** The clairvoyant reference: threshold, its calibration and its own false alarms on the evaluation weeks. */
  oracle: {
    threshold: number;
    calibration_pages: number;
    calibration_weeks: number;
    fa_per_week: number;
    delays: Record<string, EvalDelayStats>;
    segment_drop: EvalDelayStats;
  };
  /** The oracle with the shifted null of funnelwatch's scan (z = (δ̂ − minChange/2)/SE). */
  oracle_shifted: {
    threshold: number;
    calibration_pages: number;
    fa_per_week: number;
    delays: Record<string, EvalDelayStats>;
  };
  quiet: EpisodeSet | null;
  ticks: number;
  elapsed_ms: number;
}

export const FUNNEL: FunnelDef = {
  name: 'checkout',
  entityField: 'entity',
  steps: [
    { name: 'started', event: 'checkout_started' },
    { name: 'completed', event: 'order_completed' },
  ],
  conversionWindowMs: 30 * MIN,
  bucketMs: MIN,
  allowedLatenessMs: MIN,
  dimensions: [{ name: 'platform', maxValues: 10 }],
  services: ['payments-service'],
  retention: { fineMs: 3 * 86_400_000, rollupBucketMs: 15 * MIN, rollupMs: 35 * 86_400_000 },
};

/** Per-minute cohort counts of the stream as the window store would hold them at the current tick. */
class StreamSource implements FunnelSource {
  /** Current tick: cohorts < T are complete. */
  T = 0;
  private readonly A: number;
  /** Arrivals by age per segment: cum[j][s*A + k]. */
  private readonly cum: Int32Array[];
  /** Episode: segment → cohort → cumulative arrivals replacing the stream's. */
  override: Map<number, Map<number, Int32Array>> | null = null;
  private readonly segIndex: Map<string, number>;
  /** Arrivals by age, all segments summed: totals[s*A + k]. */
  private readonly totals: Int32Array;

  constructor(private readonly stream: Stream) {
    this.A = stream.maxAge + 1;
    this.segIndex = new Map(stream.segments.map((s, j) => [s, j]));
    const tmp = new Int32Array(this.A);
    this.cum = stream.segments.map((_, j) => {
      const c = new Int32Array(stream.minutes * this.A);
      for (let s = 0; s < stream.minutes; s++) {
        cohortArrivals(stream, s, j, stream.finals[j]![s]!, 0, tmp);
        c.set(tmp, s * this.A);
      }
      return c;
    });
    this.totals = totalArrivals((j, s, out) => out.set(this.cum[j]!.subarray(s * this.A, (s + 1) * this.A)), stream);
  }

  /** Completions of cohort s, all segments, arrived by the tick at T (the oracle's view). */
  total(s: number): number {
    if (this.override) {
      let c = 0;
      for (let j = 0; j < this.stream.segments.length; j++) c += this.arrived(j, s);
      return c;
    }
    return this.totals[s * this.A + Math.min(this.T - 1 - s, this.A - 1)]!;
  }

  async watermark(): Promise<number | undefined> {
    return T0 + this.T * MIN;
  }

  /** Completions of cohort s in segment j arrived by the tick at T. */
  arrived(j: number, s: number): number {
    const k = Math.min(this.T - 1 - s, this.A - 1);
    const ov = this.override?.get(j)?.get(s);
    if (ov) return ov[k]!;
    return this.cum[j]![s * this.A + k]!;
  }

  async reader(_f: FunnelDef, _evalTo: number, _needs: FunnelNeeds): Promise<SeriesReader> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the closures below read the stream's arrays
    const src = this;
    const st = this.stream;
    const nSeg = st.segments.length;
    const view = (s: number, seg: SegmentRef | null): BucketView | undefined => {
      if (s < 0 || s >= src.T) return undefined;
      if (seg) {
        const j = src.segIndex.get(seg.value);
        if (j === undefined) return undefined;
        const n = st.starts[j]![s]!;
        return { volume: [n, 0], cohort: [n, src.arrived(j, s)] };
      }
      let n = 0,
        c = 0;
      for (let j = 0; j < nSeg; j++) {
        n += st.starts[j]![s]!;
        c += src.arrived(j, s);
      }
      return { volume: [n, 0], cohort: [n, c] };
    };
    return {
      bucketMs: MIN,
      rollupMs: 15 * MIN,
      fine: (start, seg) => view((start - T0) / MIN, seg),
      rollup: (start, seg) => {
        const s0 = (start - T0) / MIN;
        if (s0 < 0 || s0 + 15 > src.T - this.A) return undefined; // only compacted (mature) history
        let n = 0,
          c = 0;
        for (let s = s0; s < s0 + 15; s++) {
          for (let j = 0; j < nSeg; j++) {
            if (seg && st.segments[j] !== seg.value) continue;
            n += st.starts[j]![s]!;
            c += st.finals[j]![s]!;
          }
        }
        return { volume: [n, 0], cohort: [n, c] };
      },
      durations: () => undefined,
      values: () => st.segments,
    };
  }
}

class MemoryAlerts implements AlertStatePort {
  states = new Map<string, AlertState>();
  async load(): Promise<Map<string, AlertState>> {
    return new Map(this.states);
  }
  async commit(
    _token: number,
    states: AlertState[],
    _t: AlertTransition[],
    opts?: { deleteKeys?: string[] },
  ): Promise<'ok'> {
    for (const s of states) this.states.set(alertKey(s.rule, s.segment), s);
    for (const k of opts?.deleteKeys ?? []) this.states.delete(k);
    return 'ok';
  }
}

function makeEvaluator(source: StreamSource, rule: AlertRuleDef, completeness?: Record<string, CompletenessState>) {
  const got: AlertTransition[] = [];
  const ruleSet: RuleSet = { funnels: [FUNNEL], rules: [rule], version: 'bench', files: [], receivers: [], gates: [] };
  const ev = new Evaluator({
    store: source,
    rules: () => ruleSet,
    alerts: new MemoryAlerts(),
    lease: { isLeader: () => true, token: () => 1 },
    notifier: {
      notify: async (t) => {
        got.push(t);
      },
    },
    clock: { now: () => T0 + source.T * MIN },
    logger: createLogger({ level: 'silent', pretty: false }),
    staleAfterMs: 5 * MIN,
    ...(completeness ? { completeness } : {}),
  });
  return { ev, got };
}

export async function runEvaluatorQuality(o: EvaluatorQualityOptions): Promise<EvaluatorQualityReport> {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  const st = o.stream;
  const source = new StreamSource(st);
  log(`evaluator pass: arrivals ready at ${(performance.now() - t0).toFixed(0)} ms`);
  const lookDelay = st.config.lookDelaySec / 60;
  const inIncident = new Uint8Array(st.minutes);
  for (const i of st.incidents)
    for (let t = Math.max(0, i.start - 60); t < Math.min(st.minutes, i.end + 120); t++) inIncident[t] = 1;

  // ---- The oracle's threshold, calibrated on a separate incident-free stream ----
  const cal = generateStream({
    ...st.config,
    seed: st.config.seed + 7919,
    weeks: o.oracleCalibrationWeeks,
    incidents: { ...st.config.incidents, minutes: 0 },
  });
  const calCum = totalArrivals((j, s, out) => cohortArrivals(cal, s, j, cal.finals[j]![s]!, 0, out), cal);
  const A = st.maxAge + 1;
  const calFacts = oracleFacts(cal);
  const calibrate = (nullDrop: number) =>
    calibrateOracle(
      calFacts,
      (T, s) => calCum[s * A + Math.min(T - 1 - s, A - 1)]!,
      1440,
      cal.minutes,
      o.rule.falseAlarmsPerWeek,
      o.rule.minChange,
      log,
      nullDrop,
    );
  const calibration = calibrate(0);
  // The same, held to "drops under half the minimum do not page" as funnelwatch's scan is (its shifted null).
  const shiftedNull = o.rule.minChange / 2;
  const calibrationShifted = calibrate(shiftedNull);
  const newAlarms = () => ({
    oracle: new OracleAlarm(calibration.threshold, o.rule.minChange),
    oracle_shifted: new OracleAlarm(calibrationShifted.threshold, o.rule.minChange, 10, shiftedNull),
  });
  const facts = oracleFacts(st);
  const scratch = oracleScratch();
  const oracleStep = (alarm: OracleAlarm, T: number) =>
    alarm.step(
      T,
      alarm.look(facts, T, (s) => source.total(s), scratch),
    );
  log(
    `oracle threshold ${calibration.threshold.toFixed(3)}, shifted null ${calibrationShifted.threshold.toFixed(3)} ` +
      `(${(performance.now() - t0).toFixed(0)} ms)`,
  );

  // ---- False alarms: one tick per minute over the evaluation weeks (plus a day to warm up) ----
  const evalStart = o.warmupWeeks * MINUTES_PER_WEEK;
  const { ev, got } = makeEvaluator(source, o.rule);
  const faAlarms = newAlarms();
  let ticks = 0;
  let fa = 0;
  let oracleFa = 0;
  let shiftedFa = 0;
  for (let T = evalStart - 1440; T < st.minutes; T++) {
    source.T = T;
    const before = got.length;
    await ev.tick(T0 + T * MIN);
    const ot = oracleStep(faAlarms.oracle, T);
    const os = oracleStep(faAlarms.oracle_shifted, T);
    ticks++;
    if (T < evalStart) continue;
    if (ot === 'firing' && !inIncident[T]) oracleFa++;
    if (os === 'firing' && !inIncident[T]) shiftedFa++;
    for (let i = before; i < got.length; i++) {
      if (got[i]!.kind === 'firing' && !inIncident[T]) fa++;
    }
    if (T % MINUTES_PER_WEEK === 0)
      log(
        `week ${T / MINUTES_PER_WEEK}: ${fa} false alarms so far, oracle ${oracleFa} ` +
          `(${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
  }
  const completeness = ev.completenessSnapshot();

  // ---- Injected drops: each lasts until 30 minutes after the detector's page, then the funnel recovers ----
  const HOLD = 30;
  const RESOLVE_HORIZON = 180;
  const runEpisodes = async (onsetTraffic: [number, number], salt: number, longer: number): Promise<EpisodeSet> => {
    const rng = new Rng(st.config.seed, 0xe916 + salt);
    const [lo, hi] = onsetTraffic;
    const candidates: number[] = [];
    for (let t = evalStart + 300; t < st.minutes - 600; t++) {
      if (st.expectedStarts[t]! >= lo && st.expectedStarts[t]! <= hi && !inIncident[t]) candidates.push(t);
    }
    const kinds = [
      ...o.dropSizes.map((d) => ({
        label: `${Math.round(d * 100)}%`,
        size: d,
        segs: st.segments.map((_, j) => j),
        horizon: (d <= 0.05 ? 120 : 60) * longer,
      })),
      {
        label: 'segment',
        size: o.segmentDrop.size,
        segs: [st.segments.indexOf(o.segmentDrop.segment)],
        horizon: 60 * longer,
      },
    ];
    const delays: Record<string, EvalDelayStats> = {};
    const oracle: Record<string, EvalDelayStats> = {};
    const shifted: Record<string, EvalDelayStats> = {};
    let named = 0,
      namedN = 0;
    let epId = salt * 100_000;
    for (const kind of kinds) {
      const acc = { ds: [] as number[], rs: [] as number[], pre: 0, missed: 0 };
      const oacc = { ds: [] as number[], rs: [] as number[], pre: 0, missed: 0 };
      const sacc = { ds: [] as number[], rs: [] as number[], pre: 0, missed: 0 };
      const limits: number[] = [];
      for (let e = 0; e < o.episodesPerSize; e++) {
        epId++;
        const tau = candidates[Math.floor(rng.next() * candidates.length)]!;
        const erng = new Rng(st.config.seed, epId, 0x7418);
        const thinned = new Map<number, Map<number, Int32Array>>();
        for (const j of kind.segs) {
          const m = new Map<number, Int32Array>();
          for (let s = tau; s <= tau + kind.horizon + HOLD + 1; s++) {
            const c = erng.binomial(st.finals[j]![s]!, 1 - kind.size);
            m.set(s, cohortArrivals(st, s, j, c, 1000 + epId, new Int32Array(A)));
          }
          thinned.set(j, m);
        }
        /** The episode's drop for cohorts before `end` (exclusive). */
        const dropUntil = (end: number) => {
          const ov = new Map<number, Map<number, Int32Array>>();
          for (const [j, m] of thinned) ov.set(j, new Map([...m].filter(([s]) => s < end)));
          return ov;
        };
        const full = dropUntil(Infinity);
        let nn = 0,
          pp = 0,
          ps = 0;
        for (let s = tau; s < tau + 30; s++)
          for (let j = 0; j < st.segments.length; j++) {
            nn += st.starts[j]![s]!;
            pp += st.starts[j]![s]! * st.trueRate[j]![s]!;
            if (kind.segs.includes(j)) ps += st.starts[j]![s]! * st.trueRate[j]![s]!;
          }
        const p0 = pp / nn;
        limits.push(
          cusumDelayLimit({
            n: nn / 30,
            p0,
            p1: Math.max(0, p0 - (kind.size * ps) / nn),
            falseAlarmsPerWeek: o.rule.falseAlarmsPerWeek,
            stepMinutes: 1,
          }).delayMinutes,
        );
        // A fresh evaluator (the learned completeness carried over), warmed up on the hour before the drop.
        const run = makeEvaluator(source, o.rule, completeness);
        const alarms = newAlarms();
        const ep = {
          evaluator: {
            firingAtTau: false,
            delay: null as number | null,
            end: Infinity,
            resolve: null as number | null,
          },
          oracle: { firingAtTau: false, delay: null as number | null, end: Infinity, resolve: null as number | null },
          oracle_shifted: {
            firingAtTau: false,
            delay: null as number | null,
            end: Infinity,
            resolve: null as number | null,
          },
        };
        // The evaluator and the oracle see the same cohorts; each detector's drop ends HOLD minutes after its own
        // page, so the two passes run one after the other on the same episode.
        for (const who of ['evaluator', 'oracle', 'oracle_shifted'] as const) {
          const r = ep[who];
          source.override = null;
          for (let T = tau - 60; T <= tau + kind.horizon + HOLD + RESOLVE_HORIZON; T++) {
            if (T > tau + kind.horizon && r.delay === null) break;
            source.T = T;
            if (T === tau + 1) source.override = full; // cohort τ is first seen at the tick T = τ + 1
            let fired: boolean;
            let firingNow: boolean;
            if (who === 'evaluator') {
              const before = run.got.length;
              await run.ev.tick(T0 + T * MIN);
              ticks++;
              const f = run.got.slice(before).find((t) => t.kind === 'firing');
              fired = f !== undefined;
              firingNow = [...run.ev.currentStates().values()].some((s) => s.status === 'firing');
              if (f && T > tau && r.delay === null && kind.label === 'segment' && !r.firingAtTau) {
                namedN++;
                if (f.segment?.value === o.segmentDrop.segment) named++;
              }
            } else {
              fired = oracleStep(alarms[who], T) === 'firing';
              firingNow = alarms[who].firing;
            }
            if (T === tau) r.firingAtTau = firingNow;
            if (T === tau && r.firingAtTau) break;
            if (T > tau && r.delay === null && fired) {
              r.delay = T - tau + lookDelay;
              r.end = T + HOLD;
              source.override = dropUntil(r.end);
            } else if (r.delay !== null && T >= r.end && !firingNow) {
              r.resolve = T + lookDelay - r.end;
              break;
            } else if (r.delay !== null && T > r.end + RESOLVE_HORIZON) break;
          }
          source.override = null;
          const a = who === 'evaluator' ? acc : who === 'oracle' ? oacc : sacc;
          if (r.firingAtTau) a.pre++;
          else if (r.delay === null) a.missed++;
          else {
            a.ds.push(r.delay);
            if (r.resolve !== null) a.rs.push(r.resolve);
          }
        }
      }
      const limit = round(limits.reduce((a, b) => a + b, 0) / limits.length);
      delays[kind.label] = delayStats(acc, o.episodesPerSize, limit);
      oracle[kind.label] = delayStats(oacc, o.episodesPerSize, limit);
      shifted[kind.label] = delayStats(sacc, o.episodesPerSize, limit);
      log(
        `episodes ${kind.label} at ${lo}–${hi} starts/min: mean ${delays[kind.label]!.mean} min ` +
          `(oracle ${oracle[kind.label]!.mean}, shifted null ${shifted[kind.label]!.mean}), ` +
          `detected ${acc.ds.length}/${o.episodesPerSize - acc.pre}, ` +
          `missed ${acc.missed}, resolve ${delays[kind.label]!.resolve_mean} ` +
          `(oracle ${oracle[kind.label]!.resolve_mean}) ` +
          `(${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
    }
    const seg = delays.segment!;
    delete delays.segment;
    const oseg = oracle.segment!;
    delete oracle.segment;
    delete shifted.segment;
    const ratio: Record<string, number> = {};
    for (const [k, d] of Object.entries(delays)) ratio[k] = round(d.mean / d.limit);
    return {
      delays,
      delay_ratio: ratio,
      segment_drop: seg,
      segment_named: namedN ? round(named / namedN) : 0,
      oracle,
      oracle_segment: oseg,
      oracle_shifted: shifted,
    };
  };
  const main = await runEpisodes(o.onsetTraffic, 0, 1);
  const quiet = o.quietTraffic ? await runEpisodes(o.quietTraffic, 1, 2) : null;
  return {
    fa_per_week: round(fa / o.evalWeeks),
    fa_count: fa,
    delays: main.delays,
    delay_ratio: main.delay_ratio,
    segment_drop: main.segment_drop,
    segment_named: main.segment_named,
    oracle: {
      threshold: round(calibration.threshold),
      calibration_pages: calibration.pages,
      calibration_weeks: round(calibration.weeks),
      fa_per_week: round(oracleFa / o.evalWeeks),
      delays: main.oracle,
      segment_drop: main.oracle_segment,
    },
    oracle_shifted: {
      threshold: round(calibrationShifted.threshold),
      calibration_pages: calibrationShifted.pages,
      fa_per_week: round(shiftedFa / o.evalWeeks),
      delays: main.oracle_shifted,
    },
    quiet,
    ticks,
    elapsed_ms: Math.round(performance.now() - t0),
  };
}

function delayStats(a: { ds: number[]; rs: number[]; pre: number }, n: number, limit: number): EvalDelayStats {
  const sorted = [...a.ds].sort((x, y) => x - y);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : NaN);
  return {
    n,
    detected: a.ds.length,
    pre_alarmed: a.pre,
    mean: round(mean(a.ds)),
    p90: sorted.length ? round(sorted[Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)]!) : NaN,
    limit,
    resolve_mean: round(mean(a.rs)),
    resolved: a.rs.length,
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The rule bench:detect puts through the evaluator, as a product person would write it in rules/checkout.yaml. */
export const BENCH_RULE: AlertRuleDef = {
  name: 'checkout-completion-drop',
  funnel: FUNNEL.name,
  metric: { kind: 'cohort_conversion', from: 'started', to: 'completed' },
  direction: 'drop',
  minChange: 0.05,
  baseline: { kind: 'seasonal', weeks: 4 },
  falseAlarmsPerWeek: 1,
  minVolume: 100,
  forMs: 0,
  resolveAfterMs: 10 * 60_000,
  severity: 'critical',
  segments: ['platform'],
  notify: ['console'],
  labels: {},
  mixShift: 'ignore',
  source: { file: 'bench/detect.ts', line: 1, col: 1 },
};

/** BENCH_RULE through the evaluator on a fresh stream of `warmupWeeks + evalWeeks`, with bench:detect's episodes
 *  (the drops, a 50 % android drop, onsets at 900–1,100 starts a minute). */
export async function runBenchRule(o: {
  seed: number;
  warmupWeeks: number;
  evalWeeks: number;
  episodesPerSize: number;
  dropSizes: number[];
  /** Also the episodes at 80–120 starts a minute (quiet hours). */
  quiet?: boolean;
  /** Weeks of the oracle's calibration stream (default: evalWeeks). */
  oracleCalibrationWeeks?: number;
  log?: (line: string) => void;
}): Promise<EvaluatorQualityReport> {
  const stream = generateStream({ seed: o.seed, weeks: o.warmupWeeks + o.evalWeeks });
  return runEvaluatorQuality({
    stream,
    warmupWeeks: o.warmupWeeks,
    evalWeeks: o.evalWeeks,
    episodesPerSize: o.episodesPerSize,
    dropSizes: o.dropSizes,
    segmentDrop: { segment: 'android', size: 0.5 },
    onsetTraffic: [900, 1100],
    ...(o.quiet ? { quietTraffic: [80, 120] as [number, number] } : {}),
    oracleCalibrationWeeks: o.oracleCalibrationWeeks ?? o.evalWeeks,
    rule: BENCH_RULE,
    ...(o.log ? { log: o.log } : {}),
  });
}
