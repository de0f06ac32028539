/**
 * Conversion lag for the gate: a cohort that entered `a` minutes ago has so far delivered only the share G(a) of
 * its eventual successes (G the completeness curve, src/detect/lag.ts). The gate keeps the rate successes/trials
 * unbiased by counting such a cohort as `entered × G(a)` effective trials; `entered` is passed beside it, so the
 * test can also use the right variance for a partly arrived cohort (see stats-evidence.ts, armInformation).
 */
import { completenessAt } from '../detect/lag.js';

/**
 * Effective trials of a cohort of `entered` entities that started at `cohortStart` (ms), seen at `now` (ms), with
 * completeness curve `curve` (G by age in steps of `stepMs`, default one minute). Ages count as in
 * engine/completeness.ts: the bucket that has just ended at `now` has age 0.
 */
export function effectiveTrials(
  entered: number,
  cohortStart: number,
  now: number,
  curve: readonly number[],
  stepMs = 60_000,
): number {
  if (!(entered > 0)) return 0;
  const age = Math.floor((now - cohortStart) / stepMs) - 1;
  if (age < 0) return 0;
  return entered * completenessAt(curve, age);
}
