/**
 * Volume rules (step volume up or down against its forecast) through the same scan machinery, with a Poisson
 * likelihood instead of the binomial one: counts per step x_t against expected μ_t, variance μ_t (Poisson) plus
 * a relative wobble τ²_rel·μ_t² (negative-binomial-like overdispersion, which every real traffic series has).
 * `increase` and `drop` are the two one-sided directions of the same statistic.
 */
import { type Detection, type Direction, type NoiseModel, scanSums, type WindowSums } from './scan-detector.js';
import { DEFAULT_WINDOWS, scanThresholds } from './thresholds.js';

export interface VolumeInput {
  /** Observed counts per step, oldest first. */
  observed: ArrayLike<number>;
  /** Expected counts per step (seasonal forecast). */
  expected: ArrayLike<number>;
  direction: Direction;
  /** Relative change that matters, e.g. 0.3 for `increase: 30%`. */
  change: number;
  /** Relative wobble of the true volume, as variance (e.g. 0.05² for 5 %). */
  noise?: NoiseModel | number;
  baselineRelVariance?: number;
  falseAlarmsPerWeek?: number;
  stepMinutes?: number;
  windows?: readonly number[];
  /** Expected count a window needs before it is scored. */
  minVolume?: number;
  /** Only windows up to this many steps are scored (after a resolve: the steps since). Default: all. */
  maxWindowSteps?: number;
}

/** Window sums of the newest `windows` steps for the Poisson family; steps without an expected count are no data. */
export function volumeWindowSums(
  observed: ArrayLike<number>,
  expected: ArrayLike<number>,
  windows: readonly number[],
): WindowSums[] {
  const n = observed.length;
  const sorted = [...windows].sort((a, b) => a - b).filter((w) => w <= n);
  const sums: WindowSums[] = [];
  let obs = 0,
    exp = 0,
    fast = 0,
    wi = 0;
  for (let j = 1; j <= n && wi < sorted.length; j++) {
    const mu = expected[n - j] ?? 0;
    if (mu > 0) {
      obs += observed[n - j] ?? 0;
      exp += mu;
      fast += mu * mu;
    }
    if (j === sorted[wi]) {
      sums.push({
        steps: j,
        trials: exp,
        observed: obs,
        expected: exp,
        nullVariance: exp,
        fastWeight: fast,
        slowWeight: exp * exp,
      });
      wi++;
    }
  }
  return sums;
}

export function detectVolumeChange(input: VolumeInput): Detection {
  const windows = input.windows ?? DEFAULT_WINDOWS;
  const thresholds = scanThresholds({
    falseAlarmsPerWeek: input.falseAlarmsPerWeek ?? 1,
    stepMinutes: input.stepMinutes ?? 1,
    windows,
  });
  const sums = volumeWindowSums(input.observed, input.expected, windows).filter(
    (s) => input.maxWindowSteps === undefined || s.steps <= input.maxWindowSteps,
  );
  const noise =
    input.noise === undefined ? { tau2: 0 } : typeof input.noise === 'number' ? { tau2: input.noise } : input.noise;
  const { windowIndex: _w, ...r } = scanSums(sums, {
    drop: input.change,
    direction: input.direction,
    family: 'poisson',
    baselineRelVariance: input.baselineRelVariance ?? 0,
    noise,
    thresholds,
    minVolume: Math.max(1e-9, input.minVolume ?? 1),
  });
  // For volume, "rates" are counts per step.
  const steps = r.windowMinutes / (input.stepMinutes ?? 1);
  return {
    ...r,
    observedRate: steps > 0 ? r.observed / steps : NaN,
    expectedRate: steps > 0 ? r.expected / steps : NaN,
    onsetIndex: null,
    onsetStepsAgo: null,
  };
}
