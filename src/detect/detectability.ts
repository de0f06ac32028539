/**
 * The smallest change a rule would detect within a horizon (15, 60, 240 minutes) at the current traffic: what
 * `funnelwatch explain` answers to "would this rule even see a 5 % drop?".
 *
 * Computed with the detector's own machinery, not a formula of its own: a series at today's traffic (starts per
 * step, the baseline rate, the cohort completeness by age, so conversion lag costs what it costs the scan) goes
 * through `seriesWindowSums` (binomial) or `volumeWindowSums` (Poisson); each window's z is `windowZ` with the
 * series' noise model and baseline variance, against the window's threshold at the series' budget
 * (`scanThresholds`). A sustained change of relative size δ that began H minutes ago shows fully in every window of
 * at most H minutes; the smallest δ at which one of them is at or above its threshold — and at least half the
 * rule's change, the scan's practical-significance gate — is the answer. z grows with δ, so each window's δ is
 * found by bisection.
 */
import {
  seriesWindowSums,
  slowRho,
  windowZ,
  type Direction,
  type NoiseModel,
  type WindowSums,
} from './scan-detector.js';
import { DEFAULT_WINDOWS, scanThresholds } from './thresholds.js';
import { volumeWindowSums } from './volume-detector.js';

export interface DetectabilityInput {
  family: 'binomial' | 'poisson';
  /** Binomial: starts per step; Poisson: expected count per step. */
  perStep: number;
  /** The baseline conversion rate (binomial only). */
  rate?: number;
  /** Completeness of a cohort by age in steps (0 = newest); 0 = left out; ages past the end are mature (1). */
  completenessByAge?: readonly number[];
  direction: Direction;
  /** The rule's change (`drop: 5%` → 0.05). */
  minChange: number;
  minVolume: number;
  noise: NoiseModel;
  baselineRelVariance: number;
  /** The series' page budget (the rule's, split over its series). */
  falseAlarmsPerWeek: number;
  stepMinutes: number;
  /** As the series' scan was calibrated (binomial rules pass the rule's; volume rules use the default). */
  resolveAfterMinutes?: number;
  horizonsMinutes: readonly number[];
  windows?: readonly number[];
}

export interface DetectableChange {
  withinMinutes: number;
  /** Smallest relative change detected within the horizon; null when none would be (too little traffic). */
  change: number | null;
  /** The window that detects it first. */
  windowMinutes: number | null;
}

/** Largest relative increase searched: 10× is beyond anything a rule is written for. */
const MAX_INCREASE = 10;

export function detectableChanges(input: DetectabilityInput): DetectableChange[] {
  const windows = input.windows ?? DEFAULT_WINDOWS;
  const t = scanThresholds({
    falseAlarmsPerWeek: input.falseAlarmsPerWeek,
    stepMinutes: input.stepMinutes,
    windows,
    ...(input.resolveAfterMinutes !== undefined ? { resolveAfterMinutes: input.resolveAfterMinutes } : {}),
  });
  const hSteps = (h: number) => Math.max(1, Math.floor(h / input.stepMinutes));
  // The horizons' own spans too: a change that began H minutes ago covers that part of a longer window.
  const spans = [...new Set([...windows, ...input.horizonsMinutes.map(hSteps)])];
  const n = Math.max(...spans);
  let all: WindowSums[];
  if (input.family === 'poisson') {
    all = volumeWindowSums(new Float64Array(n), new Float64Array(n).fill(input.perStep), spans);
  } else {
    const g = input.completenessByAge ?? [];
    const completeness = Array.from({ length: n }, (_, i) => g[n - 1 - i] ?? 1);
    all = seriesWindowSums(
      {
        starts: new Float64Array(n).fill(input.perStep),
        conversions: new Float64Array(n),
        expectedRate: input.rate ?? NaN,
        completeness,
      },
      spans,
      slowRho(input.noise, input.stepMinutes),
    );
  }
  const sums = all.filter((s) => windows.includes(s.steps));
  const opts = {
    drop: input.minChange,
    direction: input.direction,
    family: input.family,
    baselineRelVariance: input.baselineRelVariance,
    noise: input.noise,
  };
  const sign = input.direction === 'drop' ? -1 : 1;
  const minVolume = Math.max(input.minVolume, 1e-9);
  return input.horizonsMinutes.map((h) => {
    const span = hSteps(h);
    let best: DetectableChange = { withinMinutes: h, change: null, windowMinutes: null };
    for (const s of sums) {
      if (!(s.trials >= minVolume) || !(s.expected > 0)) continue;
      // The change covers the newest hSteps: all of a shorter window, that part of a longer one.
      const shifted = all.find((x) => x.steps === Math.min(s.steps, span))?.expected ?? s.expected;
      const d = smallestChange(s, shifted, t.thresholds[t.windows.indexOf(s.steps)]!);
      if (d !== null && (best.change === null || d < best.change))
        best = { withinMinutes: h, change: d, windowMinutes: s.steps * input.stepMinutes };
    }
    return best;
  });

  /** The smallest δ at which window `s`, with `shifted` of its expected count changed by δ, pages; else null. */
  function smallestChange(s: WindowSums, shifted: number, c: number): number | null {
    const pages = (d: number) =>
      windowZ({ ...s, observed: s.expected + sign * d * shifted }, opts) >= c &&
      (d * shifted) / s.expected >= input.minChange / 2;
    let lo = 0;
    let hi =
      input.direction === 'drop'
        ? 1
        : input.family === 'binomial'
          ? Math.min(MAX_INCREASE, (s.trials - s.expected) / shifted)
          : MAX_INCREASE;
    if (!(hi > 0) || !pages(hi)) return null;
    for (let i = 0; i < 50; i++) {
      const mid = (lo + hi) / 2;
      if (pages(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }
}
