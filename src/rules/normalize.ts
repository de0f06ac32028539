/**
 * From the file's units to the code's: schema-valid, semantically checked input in, `FunnelDef` / `AlertRuleDef`
 * out. Pure; callers run `semantics.ts` first, so nothing here needs to report problems.
 */
import { FUNNEL_DEFAULTS, type DimensionDef, type FunnelDef, type StepDef } from '../funnels/funnel.js';
import type { AlertRuleDef, BaselineDef, MetricDef } from './rule.js';
import type { GateDef } from './gate.js';
import { RULE_DEFAULTS, type FunnelParsed, type GateParsed, type RuleParsed } from './schema.js';
import { parseDuration, parsePercent, parsePercentile, parseRatePerWeek } from './units.js';
import type { Position } from './yaml-source.js';

export function toFunnelDef(f: FunnelParsed): FunnelDef {
  return {
    name: f.name,
    entityField: f.entity,
    steps: f.steps.map(toStepDef),
    conversionWindowMs: parseDuration(f.conversion_window),
    bucketMs: parseDuration(f.bucket),
    allowedLatenessMs: parseDuration(f.allowed_lateness),
    dimensions: f.dimensions.map(toDimensionDef),
    services: [...f.services],
    retention: f.retention
      ? {
          fineMs: parseDuration(f.retention.fine),
          rollupBucketMs: parseDuration(f.retention.rollup_bucket),
          rollupMs: parseDuration(f.retention.rollup),
        }
      : { ...FUNNEL_DEFAULTS.retention },
  };
}

function toStepDef(s: FunnelParsed['steps'][number]): StepDef {
  const step: StepDef = { name: s.name, event: s.event };
  if (s.where) {
    // Event attributes arrive as strings (numbers and booleans stringified), so filters compare as strings too.
    step.where = Object.fromEntries(
      Object.entries(s.where).map(([k, v]) => [k, (Array.isArray(v) ? v : [v]).map((x) => String(x))]),
    );
  }
  return step;
}

function toDimensionDef(d: FunnelParsed['dimensions'][number]): DimensionDef {
  return typeof d === 'string'
    ? { name: d, maxValues: FUNNEL_DEFAULTS.dimensionMaxValues }
    : { name: d.name, maxValues: d.max_values };
}

/** The one metric the rule names (semantics guarantees exactly one). */
export function toMetricDef(m: RuleParsed['metric']): MetricDef {
  if (m.cohort_conversion) return { kind: 'cohort_conversion', ...m.cohort_conversion };
  if (m.ratio_conversion) return { kind: 'ratio_conversion', ...m.ratio_conversion };
  if (m.step_volume) return { kind: 'step_volume', step: m.step_volume.step };
  if (m.step_duration) {
    const { from, to, percentile } = m.step_duration;
    return { kind: 'step_duration', from, to, percentile: parsePercentile(percentile) };
  }
  throw new Error('toMetricDef: rule has no metric (semantics.ts should have rejected it)');
}

export function toBaselineDef(b: RuleParsed['baseline']): BaselineDef {
  if (b.trailing !== undefined) return { kind: 'trailing', windowMs: parseDuration(b.trailing) };
  return { kind: 'seasonal', weeks: b.seasonal?.weeks ?? RULE_DEFAULTS.baselineWeeks };
}

export function toAlertRuleDef(r: RuleParsed, funnel: string, file: string, at: Position): AlertRuleDef {
  const rule: AlertRuleDef = {
    name: r.name,
    funnel,
    metric: toMetricDef(r.metric),
    direction: r.drop !== undefined ? 'drop' : 'increase',
    minChange: parsePercent((r.drop ?? r.increase)!),
    baseline: toBaselineDef(r.baseline),
    falseAlarmsPerWeek: parseRatePerWeek(r.false_alarms),
    minVolume: r.min_volume,
    forMs: parseDuration(r.for),
    resolveAfterMs: parseDuration(r.resolve_after),
    severity: r.severity,
    segments: [...r.segments],
    notify: [...r.notify],
    labels: Object.fromEntries(Object.entries(r.labels).map(([k, v]) => [k, String(v)])),
    mixShift: r.mix_shift,
    source: { file, line: at.line, col: at.col },
  };
  const slice = Object.entries(r.where ?? {})[0];
  if (slice)
    rule.where = { dimension: slice[0], values: (Array.isArray(slice[1]) ? slice[1] : [slice[1]]).map(String) };
  if (r.description !== undefined) rule.description = r.description;
  if (r.owner !== undefined) rule.owner = r.owner;
  if (r.group_by !== undefined) rule.groupBy = [...r.group_by];
  if (r.runbook !== undefined) rule.runbook = r.runbook;
  return rule;
}

export function toGateDef(g: GateParsed, funnel: string, file: string, at: Position): GateDef {
  const metric: GateDef['metric'] = g.metric.cohort_conversion
    ? { kind: 'cohort_conversion', ...g.metric.cohort_conversion }
    : { kind: 'ratio_conversion', ...g.metric.ratio_conversion! };
  const gate: GateDef = {
    name: g.name,
    funnel,
    metric,
    splitBy: g.split_by,
    drop: parsePercent(g.drop),
    falseFail: parsePercent(g.false_fail),
    power: parsePercent(g.power),
    warmupMs: parseDuration(g.warmup),
    maxDurationMs: parseDuration(g.max_duration),
    onTimeout: g.on_timeout,
    onSrm: g.on_srm,
    notify: [...g.notify],
    source: { file, line: at.line, col: at.col },
  };
  if (g.expected_weight !== undefined) gate.expectedWeight = parsePercent(g.expected_weight);
  if (g.description !== undefined) gate.description = g.description;
  if (g.owner !== undefined) gate.owner = g.owner;
  return gate;
}
