/**
 * An alert rule as the rest of the code sees it, after the rule files were parsed, validated and defaulted
 * (rules/ turns YAML into this; the detector and evaluator consume it). Units are the code's, not the file's:
 * durations in milliseconds, percentages as fractions, the false-alarm budget in alarms per week.
 */

/** What a rule watches. Step names refer to the funnel's `StepDef.name`. */
export type MetricDef =
  /** Of the entities that entered at `from` in a time bucket, the share that reached `to` within the conversion
   *  window (immune to conversion lag; judged only on cohorts old enough). */
  | { kind: 'cohort_conversion'; from: string; to: string }
  /** Events at `to` divided by events at `from` in the same window (cheap, but dips on traffic surges). */
  | { kind: 'ratio_conversion'; from: string; to: string }
  /** Events at `step` per time bucket. */
  | { kind: 'step_volume'; step: string }
  /** A percentile of the time from `from` to `to` (0.95 for p95). */
  | { kind: 'step_duration'; from: string; to: string; percentile: number };

export type MetricKind = MetricDef['kind'];

/** What "expected" means. */
export type BaselineDef =
  /** The same minute-of-week over the past `weeks` weeks (robust to one bad week). */
  | { kind: 'seasonal'; weeks: number }
  /** The preceding `windowMs`. */
  | { kind: 'trailing'; windowMs: number };

export type Severity = 'critical' | 'warning' | 'info';

export interface AlertRuleDef {
  /** Unique across all rule files; alert state and dedup keys are keyed by it. */
  name: string;
  /** Name of the `FunnelDef` the rule watches. */
  funnel: string;
  /** Free text for people reading the alert. */
  description?: string;
  metric: MetricDef;
  /** Which way is bad: a conversion `drop`, or an `increase` (slower steps, traffic spikes). */
  direction: 'drop' | 'increase';
  /** The smallest relative change that matters, as a fraction (`drop: 5%` → 0.05). */
  minChange: number;
  baseline: BaselineDef;
  /** Page budget when nothing is wrong, in alarms per week (`2/month` → 0.46). */
  falseAlarmsPerWeek: number;
  /** Below this volume the rule reports insufficient data; it neither fires nor resolves. */
  minVolume: number;
  /** How long the condition must hold before pending becomes firing. */
  forMs: number;
  /** How long the metric must be back to normal before firing becomes resolved. */
  resolveAfterMs: number;
  severity: Severity;
  /** Funnel dimensions whose values are each evaluated as well as the whole funnel. */
  segments: string[];
  /** The slice the rule watches instead of the whole funnel: one dimension and the values kept (`where:`). */
  where?: { dimension: string; values: string[] };
  /** Receiver names. */
  notify: string[];
  /** Overrides the receivers' group_by for this rule's alerts. */
  groupBy?: string[];
  owner?: string;
  runbook?: string;
  labels: Record<string, string>;
  /** Whether a drop explained only by a traffic-mix shift (no segment's own rate fell) may page. */
  mixShift: 'ignore' | 'page';
  /** Where the rule was written, for messages that send a person back to the file. */
  source: { file: string; line: number; col: number };
}
