/**
 * A canary gate as the rest of the code sees it, after the rule files were parsed, validated and defaulted (the
 * `gates:` list of a funnel's file). A gate compares two values of one funnel dimension (`split_by`, e.g. the
 * canary and the stable `app_version`) on one conversion, with a sequential test that may be asked every minute
 * (src/gates/). Units are the code's: durations in milliseconds, percentages as fractions.
 */

/** The conversion a gate compares; steps are the funnel's `StepDef.name`s (as in `MetricDef`). */
export type GateMetricDef =
  { kind: 'cohort_conversion'; from: string; to: string } | { kind: 'ratio_conversion'; from: string; to: string };

export type GateTimeoutAnswer = 'fail' | 'pass' | 'inconclusive';
export type GateSrmAction = 'hold' | 'fail';

export interface GateDef {
  /** Unique across all rule files; the API, metrics and evidence records are keyed by it. */
  name: string;
  /** Name of the `FunnelDef` (the file's funnel). */
  funnel: string;
  description?: string;
  owner?: string;
  metric: GateMetricDef;
  /** The funnel dimension whose values tell canary from baseline (`app_version`, `version`, `deployment`). */
  splitBy: string;
  /** Smallest relative harm that matters, as a fraction (`drop: 5%` → 0.05). */
  drop: number;
  /** Probability of failing a canary as good as its baseline. */
  falseFail: number;
  /** 1 − the probability of passing a canary whose harm is `drop` or worse (`power: 80%`: at most 20%). */
  power: number;
  /** Expected canary share of the two arms' entries (0..1); undefined: no sample-ratio check unless asked. */
  expectedWeight?: number;
  /** Data before since + warmup is ignored (pods starting, caches cold). */
  warmupMs: number;
  /** Data time after the warm-up after which an undecided gate answers `onTimeout`. */
  maxDurationMs: number;
  onTimeout: GateTimeoutAnswer;
  /** A sample-ratio mismatch holds the verdict at inconclusive (never pass), or fails the canary. */
  onSrm: GateSrmAction;
  /** Receivers told once of each decided verdict. */
  notify: string[];
  /** Where the gate was written, for messages that send a person back to the file. */
  source: { file: string; line: number; col: number };
}
