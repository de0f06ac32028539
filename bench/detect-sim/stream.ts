/**
 * Labelled per-minute count streams for the detection benchmark, at the level the window store holds (cohort
 * counts per minute and segment), never event by event: twenty weeks at 1,000 starts/min are 200M checkouts.
 *
 * What is in a stream (all seeded, deterministic):
 * - traffic: diurnal shape with quiet nights (≈ 8 % of peak), weekends at 90 %, 3 % traffic overdispersion;
 * - conversion rate per segment: a base rate × segment factor × diurnal (±4 %) and weekend (−2 %) seasonality ×
 *   a slow level that random-walks week to week (≈ 1 %/week), plus a site-wide wobble of ≈ 1 pp: a fast part,
 *   independent each minute, and a slow AR(1) part (time constant 30 min);
 * - segments: web 50 %, android 30 %, ios 20 % of regular traffic, and a `campaign` value (2 % normally, converting
 *   at half the rate) that surges several times a week to +35 % of total traffic for 1–3 hours: a mix shift;
 * - conversion lag (exponential, mean 2.5 min, cut at 30 min) and ingestion lateness (97 % within seconds, 3 %
 *   with a 40 s mean), folded into a visibility curve: the probability that a completion of cohort s has arrived
 *   by the daemon's look after minute s + k (a tick `lookDelaySec` after the minute boundary);
 * - labelled historical incidents (a 30 % drop for 45 min about every other week), so seasonal baselines meet
 *   "one bad week".
 * Cohort completions are drawn once (final counts); their arrival split by age is re-drawn deterministically
 * from (seed, cohort, segment, salt), so an injected-drop episode can thin any cohort and re-split it without
 * storing every split.
 */
import { Rng } from './prng.js';

export const MINUTES_PER_WEEK = 10_080;

export interface SegmentSpec {
  name: string;
  /** Share of regular traffic. */
  share: number;
  /** Multiplier on the base conversion rate. */
  rateFactor: number;
}

export interface StreamConfig {
  seed: number;
  weeks: number;
  /** Starts per minute at the daily peak (weekday). */
  peakStartsPerMinute: number;
  /** Night traffic as a fraction of the peak. */
  nightFloor: number;
  baseRate: number;
  segments: SegmentSpec[];
  campaign: {
    share: number;
    rateFactor: number;
    surgesPerWeek: number;
    surgeShare: number;
    minMinutes: number;
    maxMinutes: number;
  };
  wobble: { fastSd: number; slowSd: number; slowMinutes: number };
  levelDriftPerWeek: number;
  lag: { meanMinutes: number; maxMinutes: number };
  ingest: { fastMeanSec: number; slowShare: number; slowMeanSec: number };
  /**
   * Seconds after a minute boundary at which the daemon's tick evaluates: the minute that just ended is the
   * newest complete cohort (its starts are all in), and completions count if they have arrived by then.
   */
  lookDelaySec: number;
  incidents: { everyWeeks: number; minutes: number; drop: number };
}

export const DEFAULT_STREAM: StreamConfig = {
  seed: 1,
  weeks: 25,
  peakStartsPerMinute: 1250,
  nightFloor: 0.08,
  baseRate: 0.6,
  segments: [
    { name: 'web', share: 0.5, rateFactor: 1.03 },
    { name: 'android', share: 0.3, rateFactor: 0.96 },
    { name: 'ios', share: 0.2, rateFactor: 0.98 },
  ],
  campaign: { share: 0.02, rateFactor: 0.5, surgesPerWeek: 3, surgeShare: 0.35, minMinutes: 60, maxMinutes: 180 },
  wobble: { fastSd: 0.009, slowSd: 0.004, slowMinutes: 30 },
  levelDriftPerWeek: 0.01,
  lag: { meanMinutes: 2.5, maxMinutes: 30 },
  ingest: { fastMeanSec: 3, slowShare: 0.03, slowMeanSec: 40 },
  lookDelaySec: 10,
  incidents: { everyWeeks: 2, minutes: 45, drop: 0.3 },
};

export interface Interval {
  start: number;
  end: number;
}

export interface Stream {
  config: StreamConfig;
  minutes: number;
  /** Segment names; the last is `campaign`. */
  segments: string[];
  starts: Int32Array[];
  /** Final completions of each cohort. */
  finals: Int32Array[];
  /** True mean conversion rate per segment and minute (seasonality and level, without wobble or incidents). */
  trueRate: Float64Array[];
  /** Expected total starts per minute (the traffic profile, incl. surges). */
  expectedStarts: Float64Array;
  incidents: Interval[];
  surges: Interval[];
  /** Cumulative visibility: P(a completion of cohort s has arrived by the look after minute s+k). */
  visibility: Float64Array;
  /** Largest age (minutes) with incomplete visibility. */
  maxAge: number;
}

/** Diurnal traffic shape in [floor, 1]: trough around 04:00, peak mid-afternoon to evening. */
function trafficShape(minuteOfDay: number, floor: number): number {
  const h = minuteOfDay / 60;
  const x = 0.5 - 0.5 * Math.cos((2 * Math.PI * (h - 4)) / 24);
  return floor + (1 - floor) * Math.pow(x, 1.3);
}

function rateSeasonality(minuteOfDay: number, dow: number): number {
  const h = minuteOfDay / 60;
  return (1 + 0.04 * Math.sin((2 * Math.PI * (h - 14)) / 24)) * (dow >= 5 ? 0.98 : 1);
}

function visibilityCurve(cfg: StreamConfig, maxAge: number): Float64Array {
  // Numerical integration over start offset U ~ U(0,1), lag ~ Exp(mean) truncated, ingest ~ mixture of Exp.
  const rng = new Rng(cfg.seed, 0x7a6);
  const samples = 400_000;
  const counts = new Float64Array(maxAge + 1);
  const trunc = 1 - Math.exp(-cfg.lag.maxMinutes / cfg.lag.meanMinutes);
  for (let i = 0; i < samples; i++) {
    const u = rng.next();
    const lag = -cfg.lag.meanMinutes * Math.log(1 - rng.next() * trunc);
    const slow = rng.next() < cfg.ingest.slowShare;
    const ingest = (-(slow ? cfg.ingest.slowMeanSec : cfg.ingest.fastMeanSec) * Math.log(rng.next())) / 60;
    // Visible at the look after minute s + k (time s + k + 1 + lookDelay) iff u + lag + ingest ≤ k + 1 + lookDelay.
    const k = Math.max(0, Math.ceil(u + lag + ingest - 1 - cfg.lookDelaySec / 60));
    if (k <= maxAge) counts[k]!++;
  }
  const vis = new Float64Array(maxAge + 1);
  let cum = 0;
  for (let k = 0; k <= maxAge; k++) {
    cum += counts[k]!;
    vis[k] = k === maxAge ? 1 : cum / samples;
  }
  return vis;
}

export function generateStream(partial: Partial<StreamConfig> = {}): Stream {
  const cfg: StreamConfig = { ...DEFAULT_STREAM, ...partial };
  const rng = new Rng(cfg.seed);
  const minutes = cfg.weeks * MINUTES_PER_WEEK;
  const segs = [...cfg.segments.map((s) => s.name), 'campaign'];
  const nSeg = segs.length;
  const starts = segs.map(() => new Int32Array(minutes));
  const finals = segs.map(() => new Int32Array(minutes));
  const trueRate = segs.map(() => new Float64Array(minutes));
  const expectedStarts = new Float64Array(minutes);

  // Campaign surges (mix shift) and historical incidents, labelled.
  const surges: Interval[] = [];
  for (let w = 0; w < cfg.weeks; w++) {
    for (let i = 0; i < cfg.campaign.surgesPerWeek; i++) {
      const len =
        cfg.campaign.minMinutes + Math.floor(rng.next() * (cfg.campaign.maxMinutes - cfg.campaign.minMinutes));
      // Campaign mails go out in the daytime (08:00–20:00).
      const day = Math.floor(rng.next() * 7);
      const start = w * MINUTES_PER_WEEK + day * 1440 + 480 + Math.floor(rng.next() * 720);
      surges.push({ start, end: Math.min(minutes, start + len) });
    }
  }
  const incidents: Interval[] = [];
  for (let w = 1; w < cfg.weeks; w += cfg.incidents.everyWeeks) {
    const start = w * MINUTES_PER_WEEK + Math.floor(rng.next() * MINUTES_PER_WEEK * 0.9);
    incidents.push({ start, end: start + cfg.incidents.minutes });
  }
  const surgeAt = new Float64Array(minutes);
  for (const s of surges) {
    for (let t = s.start; t < s.end; t++) {
      const ramp = Math.min(1, (t - s.start + 1) / 10, (s.end - t) / 10);
      surgeAt[t] = Math.max(surgeAt[t]!, ramp);
    }
  }
  const incidentAt = new Uint8Array(minutes);
  for (const i of incidents) for (let t = i.start; t < i.end && t < minutes; t++) incidentAt[t] = 1;

  // Weekly level anchors (random walk), interpolated linearly within each week.
  const anchors = [1];
  for (let w = 1; w <= cfg.weeks; w++) anchors.push(anchors[w - 1]! * Math.exp(cfg.levelDriftPerWeek * rng.normal()));

  const slowPhi = Math.exp(-1 / cfg.wobble.slowMinutes);
  const slowInnov = cfg.wobble.slowSd * Math.sqrt(1 - slowPhi * slowPhi);
  let slow = 0;
  for (let t = 0; t < minutes; t++) {
    const dow = Math.floor(t / 1440) % 7;
    const mod = t % 1440;
    const wk = Math.floor(t / MINUTES_PER_WEEK);
    const frac = (t % MINUTES_PER_WEEK) / MINUTES_PER_WEEK;
    const level = anchors[wk]! + (anchors[wk + 1]! - anchors[wk]!) * frac;
    const traffic =
      cfg.peakStartsPerMinute * trafficShape(mod, cfg.nightFloor) * (dow >= 5 ? 0.9 : 1) * (1 + 0.03 * rng.normal());
    const seasonal = rateSeasonality(mod, dow) * level;
    slow = slowPhi * slow + slowInnov * rng.normal();
    const wobble = cfg.wobble.fastSd * rng.normal() + slow;
    const incident = incidentAt[t] ? 1 - cfg.incidents.drop : 1;
    let expTotal = 0;
    for (let j = 0; j < nSeg; j++) {
      const isCampaign = j === nSeg - 1;
      const lambda = isCampaign
        ? traffic * (cfg.campaign.share + cfg.campaign.surgeShare * surgeAt[t]!)
        : traffic * (1 - cfg.campaign.share) * cfg.segments[j]!.share;
      expTotal += lambda;
      const factor = isCampaign ? cfg.campaign.rateFactor : cfg.segments[j]!.rateFactor;
      const mean = Math.min(0.98, cfg.baseRate * factor * seasonal);
      trueRate[j]![t] = mean;
      const p = Math.min(0.999, Math.max(0.001, (mean + wobble * factor) * incident));
      const s = rng.poisson(lambda);
      starts[j]![t] = s;
      finals[j]![t] = rng.binomial(s, p);
    }
    expectedStarts[t] = expTotal;
  }
  const maxAge = cfg.lag.maxMinutes + 2;
  return {
    config: cfg,
    minutes,
    segments: segs,
    starts,
    finals,
    trueRate,
    expectedStarts,
    incidents,
    surges,
    visibility: visibilityCurve(cfg, maxAge),
    maxAge,
  };
}

/**
 * Cumulative arrivals of a cohort's `total` completions by age 0..maxAge (out[k] = arrived by the evaluation
 * after minute s + k). Deterministic in (seed, cohort, segment, salt).
 */
export function cohortArrivals(
  stream: Stream,
  cohort: number,
  segment: number,
  total: number,
  salt: number,
  out: Int32Array,
): Int32Array {
  const vis = stream.visibility;
  const rng = new Rng(stream.config.seed, cohort, segment, salt);
  let remaining = total;
  let prev = 0;
  let cum = 0;
  for (let k = 0; k < vis.length; k++) {
    const v = vis[k]!;
    const cond = prev >= 1 ? 1 : (v - prev) / (1 - prev);
    const x = k === vis.length - 1 ? remaining : rng.binomial(remaining, Math.min(1, Math.max(0, cond)));
    remaining -= x;
    cum += x;
    out[k] = cum;
    prev = v;
  }
  return out;
}
