/**
 * What the schema cannot say because it relates one field to another: a rule's steps and segments must exist in
 * its funnel, `from` must come before `to`, durations must make sense together (`for` against a trailing baseline,
 * buckets against retention). Each check returns located problems and never throws; the loader only builds
 * definitions from parts that came back clean.
 */
import type { FunnelDef } from '../funnels/funnel.js';
import { didYouMeanSuffix } from './did-you-mean.js';
import type { Problem } from './problem.js';
import type { FunnelParsed, GateParsed, RuleParsed } from './schema.js';
import { DURATIONS, formatDuration, parseDuration, parsePercent } from './units.js';
import type { PathSegment, YamlSource } from './yaml-source.js';

/** The evaluator looks once a minute (issue 8), so timings finer than that promise what cannot happen. */
export const EVALUATION_INTERVAL_MS = DURATIONS.MINUTE;
/** A `for` or `resolve_after` beyond this is a typo or a misunderstanding: nobody wants a page a day late. */
const MAX_HOLD_MS = DURATIONS.DAY;
/** Shorter trailing baselines are too noisy to tell a drop from a wobble. */
const MIN_TRAILING_MS = 10 * DURATIONS.MINUTE;

const METRIC_KEYS = ['cohort_conversion', 'ratio_conversion', 'step_volume', 'step_duration'] as const;

export function checkFunnel(f: FunnelParsed, src: YamlSource, at: readonly PathSegment[]): Problem[] {
  const problems: Problem[] = [];
  const p = (path: PathSegment[], code: Problem['code'], message: string, target?: 'key' | 'value') =>
    problems.push(src.problemAt([...at, ...path], code, message, target));

  duplicates(f.steps.map((s) => s.name)).forEach((i) =>
    p(['steps', i, 'name'], 'duplicate_name', `step "${f.steps[i]!.name}" is listed twice; step names must be unique`),
  );
  const dimNames = f.dimensions.map((d) => (typeof d === 'string' ? d : d.name));
  duplicates(dimNames).forEach((i) =>
    p(['dimensions', i], 'duplicate_name', `dimension "${dimNames[i]}" is listed twice`),
  );
  for (const [i, s] of f.steps.entries()) {
    const filterKeys = Object.keys(s.where ?? {});
    if (s.where && filterKeys.length === 0)
      p(['steps', i, 'where'], 'invalid_value', 'where: {} filters nothing; remove it');
  }

  const windowMs = parseDuration(f.conversion_window);
  const bucketMs = parseDuration(f.bucket);
  if (windowMs === 0) p(['conversion_window'], 'invalid_timing', 'conversion_window must be longer than 0s');
  if (bucketMs === 0) {
    p(['bucket'], 'invalid_timing', 'bucket must be longer than 0s');
  } else {
    if (DURATIONS.WEEK % bucketMs !== 0) {
      p(
        ['bucket'],
        'invalid_timing',
        `bucket ${f.bucket} does not divide a week evenly, ` +
          `so seasonal comparisons would not line up; use e.g. 1m or 5m`,
      );
    }
    if (windowMs > 0 && bucketMs > windowMs) {
      p(
        ['bucket'],
        'invalid_timing',
        `bucket (${f.bucket}) is wider than conversion_window (${f.conversion_window}); ` +
          `use a bucket of at most the conversion window`,
      );
    }
  }
  if (f.retention) {
    const fine = parseDuration(f.retention.fine);
    const rb = parseDuration(f.retention.rollup_bucket);
    const rollup = parseDuration(f.retention.rollup);
    const r = (k: string, message: string) => p(['retention', k], 'invalid_retention', message);
    if (rb === 0 || DURATIONS.WEEK % rb !== 0) {
      r(
        'rollup_bucket',
        `rollup_bucket ${f.retention.rollup_bucket} must divide a week evenly (e.g. 5m, 15m, 1h), ` +
          `so the same time of week lines up`,
      );
    } else if (bucketMs > 0 && rb % bucketMs !== 0) {
      r(
        'rollup_bucket',
        `rollup_bucket (${f.retention.rollup_bucket}) must be a whole multiple of bucket (${f.bucket})`,
      );
    }
    if (fine < windowMs + parseDuration(f.allowed_lateness)) {
      r(
        'fine',
        `fine (${f.retention.fine}) must cover at least conversion_window + allowed_lateness ` +
          `(${formatDuration(windowMs + parseDuration(f.allowed_lateness))})`,
      );
    }
    if (rollup < fine)
      r('rollup', `rollup (${f.retention.rollup}) must be at least as long as fine (${f.retention.fine})`);
  }
  return problems;
}

export interface RuleCheckOptions {
  /** Receiver names that exist; when given, `notify` must name only these. */
  knownReceivers?: ReadonlySet<string>;
  /** Receivers of the checked files that page (PagerDuty): a gate's verdict is news, not an incident. */
  pagingReceivers?: ReadonlySet<string>;
}

/** How a check reports a problem: the path below the rule, code and message, and whether key or value is at fault. */
type Report = (path: PathSegment[], code: Problem['code'], message: string, target?: 'key' | 'value') => void;

type MetricKind = (typeof METRIC_KEYS)[number];

export function checkRule(
  r: RuleParsed,
  funnel: FunnelDef,
  src: YamlSource,
  at: readonly PathSegment[],
  options: RuleCheckOptions = {},
): Problem[] {
  const problems: Problem[] = [];
  const p: Report = (path, code, message, target) => {
    problems.push(src.problemAt([...at, ...path], code, message, target));
  };
  const kind = checkMetric(r.metric, funnel, p, METRIC_KEYS, 'a rule watches one metric, so split it into two rules');
  checkChange(r, kind, p);
  const trailingMs = checkBaseline(r, funnel, p);
  checkTiming(r, trailingMs, p);
  checkSegments(r, funnel, p);
  checkSlice(r, funnel, p);
  checkReceivers(r, options, p);
  return problems;
}

/**
 * Metric: exactly one of `keys`, steps that exist, in funnel order. Returns the metric's kind when exactly one was
 * named. `oneOnly` says what to do about two.
 */
function checkMetric(
  metric: Partial<Record<MetricKind, object>>,
  funnel: FunnelDef,
  p: Report,
  keys: readonly MetricKind[],
  oneOnly: string,
): MetricKind | undefined {
  const stepNames = funnel.steps.map((s) => s.name);
  const chosen = keys.filter((k) => metric[k] !== undefined);
  if (chosen.length === 0) {
    p(['metric'], 'invalid_metric', `metric: choose one of ${keys.join(', ')}`);
  } else if (chosen.length > 1) {
    p(['metric', chosen[1]!], 'invalid_metric', `metric names both ${chosen.join(' and ')}; ${oneOnly}`, 'key');
  }
  const kind = chosen.length === 1 ? chosen[0]! : undefined;
  for (const k of chosen) {
    const m = metric[k] as Record<string, string>;
    const refs = k === 'step_volume' ? ['step'] : ['from', 'to'];
    let ok = true;
    for (const field of refs) {
      const step = m[field]!;
      if (!stepNames.includes(step)) {
        ok = false;
        p(
          ['metric', k, field],
          'unknown_step',
          `unknown step "${step}" in funnel "${funnel.name}"${didYouMeanSuffix(step, stepNames)}; ` +
            `its steps are ${stepNames.join(', ')}`,
        );
      }
    }
    if (ok && refs.length === 2) {
      const from = stepNames.indexOf(m.from!);
      const to = stepNames.indexOf(m.to!);
      if (from === to) p(['metric', k, 'to'], 'step_order', `from and to are both "${m.to}"; pick two different steps`);
      else if (from > to)
        p(
          ['metric', k, 'from'],
          'step_order',
          `"${m.from}" comes after "${m.to}" in funnel "${funnel.name}"; swap from and to`,
        );
    }
  }
  return kind;
}

/** Change: drop or increase, the one that fits the metric. */
function checkChange(r: RuleParsed, kind: MetricKind | undefined, p: Report): void {
  if (r.drop === undefined && r.increase === undefined) {
    p(
      [],
      'invalid_change',
      `rule "${r.name}": say how big a change matters, e.g. drop: 5% (or increase: 30% for durations)`,
    );
  } else if (r.drop !== undefined && r.increase !== undefined) {
    p(
      ['increase'],
      'invalid_change',
      'use either drop or increase, not both; write two rules to watch both directions',
      'key',
    );
  } else if (r.drop !== undefined) {
    const v = parsePercent(r.drop);
    if (v <= 0) p(['drop'], 'invalid_change', 'drop must be more than 0%');
    else if (v > 1) p(['drop'], 'invalid_change', `drop: ${r.drop} is impossible: nothing drops by more than 100%`);
    if (kind === 'step_duration')
      p(
        ['drop'],
        'invalid_change',
        'a duration rule alerts when steps get slower: write increase: instead of drop:',
        'key',
      );
  } else if (r.increase !== undefined) {
    if (parsePercent(r.increase) <= 0) p(['increase'], 'invalid_change', 'increase must be more than 0%');
    if (kind === 'cohort_conversion' || kind === 'ratio_conversion') {
      p(['increase'], 'invalid_change', 'a conversion rule alerts on drops: write drop: instead of increase:', 'key');
    }
  }
}

/**
 * Baseline: exactly one, and history the funnel keeps. Returns the trailing span when the rule names one (the
 * timing checks compare `for` with it).
 */
function checkBaseline(r: RuleParsed, funnel: FunnelDef, p: Report): number | undefined {
  const retention = funnel.retention;
  if (r.baseline.seasonal !== undefined && r.baseline.trailing !== undefined) {
    p(['baseline', 'trailing'], 'invalid_baseline', 'baseline: choose seasonal or trailing, not both', 'key');
  } else if (r.baseline.seasonal === undefined && r.baseline.trailing === undefined) {
    p(['baseline'], 'invalid_baseline', 'baseline: choose one of seasonal: {weeks: 4} or trailing: 2h');
  } else if (r.baseline.seasonal !== undefined) {
    const weeks = r.baseline.seasonal.weeks;
    if (weeks * DURATIONS.WEEK > retention.rollupMs) {
      p(
        ['baseline', 'seasonal', 'weeks'],
        'invalid_baseline',
        `a seasonal baseline over ${weeks} weeks needs ${weeks}w of history, ` +
          `but funnel "${funnel.name}" keeps only ${formatDuration(retention.rollupMs)} (retention.rollup); ` +
          `lower weeks or raise retention.rollup`,
      );
    }
  }
  const trailingMs = r.baseline.trailing !== undefined ? parseDuration(r.baseline.trailing) : undefined;
  if (trailingMs !== undefined && r.baseline.seasonal === undefined) {
    if (trailingMs < MIN_TRAILING_MS) {
      p(
        ['baseline', 'trailing'],
        'invalid_baseline',
        `a trailing baseline of ${r.baseline.trailing} is too short to tell a drop from noise; ` +
          `use at least ${formatDuration(MIN_TRAILING_MS)}`,
      );
    } else if (trailingMs > retention.fineMs) {
      p(
        ['baseline', 'trailing'],
        'invalid_baseline',
        `trailing ${r.baseline.trailing} is longer than funnel "${funnel.name}" keeps fine buckets ` +
          `(${formatDuration(retention.fineMs)}, retention.fine)`,
      );
    }
  }
  return trailingMs;
}

/** Timing: whole evaluation ticks, not absurdly long, firing before the baseline absorbs the drop. */
function checkTiming(r: RuleParsed, trailingMs: number | undefined, p: Report): void {
  const forMs = parseDuration(r.for);
  const resolveMs = parseDuration(r.resolve_after);
  const tick = formatDuration(EVALUATION_INTERVAL_MS);
  if (forMs % EVALUATION_INTERVAL_MS !== 0) {
    p(
      ['for'],
      'invalid_timing',
      `for: ${r.for} — rules are evaluated every ${tick}, so write whole minutes ` +
        `(e.g. ${formatDuration(Math.ceil(forMs / EVALUATION_INTERVAL_MS) * EVALUATION_INTERVAL_MS)})`,
    );
  } else if (forMs > MAX_HOLD_MS) {
    p(
      ['for'],
      'invalid_timing',
      `for: ${r.for} would hold a real drop back for more than a day before anyone hears of it; use at most 1d`,
    );
  } else if (trailingMs !== undefined && r.baseline.seasonal === undefined && forMs >= trailingMs) {
    p(
      ['for'],
      'invalid_timing',
      `for (${r.for}) is not shorter than the trailing baseline (${r.baseline.trailing}): ` +
        `by the time the alert could fire, the drop has become the baseline; shorten for or lengthen the baseline`,
    );
  }
  if (resolveMs < EVALUATION_INTERVAL_MS) {
    p(
      ['resolve_after'],
      'invalid_timing',
      `resolve_after: ${r.resolve_after} ` +
        `would resolve on the first normal minute and page again on the next bad one; use at least ${tick}`,
    );
  } else if (resolveMs % EVALUATION_INTERVAL_MS !== 0) {
    p(
      ['resolve_after'],
      'invalid_timing',
      `resolve_after: ${r.resolve_after} — rules are evaluated every ${tick}, so write whole minutes`,
    );
  } else if (resolveMs > MAX_HOLD_MS) {
    p(['resolve_after'], 'invalid_timing', `resolve_after: ${r.resolve_after} is more than a day; use at most 1d`);
  }
}

/** Why `name` is not a dimension of the funnel, or undefined when it is one (rules, gates and the gate API). */
export function unknownDimensionMessage(funnel: FunnelDef, name: string): string | undefined {
  const dims = funnel.dimensions.map((d) => d.name);
  if (dims.includes(name)) return undefined;
  const known =
    dims.length > 0
      ? `its dimensions are ${dims.join(', ')}`
      : 'it has no dimensions (add them under funnel.dimensions)';
  return `"${name}" is not a dimension of funnel "${funnel.name}"${didYouMeanSuffix(name, dims)}; ${known}`;
}

/** Segments: dimensions of the funnel, each once. */
function checkSegments(r: RuleParsed, funnel: FunnelDef, p: Report): void {
  for (const [i, seg] of r.segments.entries()) {
    const unknown = unknownDimensionMessage(funnel, seg);
    if (unknown) p(['segments', i], 'unknown_dimension', unknown);
  }
  duplicates(r.segments).forEach((i) =>
    p(['segments', i], 'duplicate_name', `segment "${r.segments[i]}" is listed twice`),
  );
}

/**
 * `where:` on a rule: one declared dimension of the funnel. The windows count each dimension's values apart, so a
 * slice of two dimensions (android in the EU) has no series to read; durations are kept funnel-wide only; and
 * segments inside a slice would be combinations again.
 */
function checkSlice(r: RuleParsed, funnel: FunnelDef, p: Report): void {
  if (r.where === undefined) return;
  const keys = Object.keys(r.where);
  const dims = funnel.dimensions.map((d) => d.name);
  if (keys.length === 0) return p(['where'], 'invalid_value', 'where: {} selects nothing; remove it');
  if (keys.length > 1) {
    p(
      ['where'],
      'invalid_value',
      `where: a rule watches a slice of one dimension (here ${keys.join(' and ')}); the windows count each ` +
        'dimension apart, not their combinations: write one rule per dimension',
    );
  }
  const dim = keys[0]!;
  if (!dims.includes(dim)) {
    const known =
      dims.length > 0
        ? `its dimensions are ${dims.join(', ')}`
        : 'it has no dimensions (add them under funnel.dimensions)';
    p(
      ['where'],
      'unknown_dimension',
      `where: "${dim}" is not a dimension of funnel "${funnel.name}"${didYouMeanSuffix(dim, dims)}; ${known}`,
    );
  }
  if (r.metric.step_duration !== undefined) {
    p(['where'], 'invalid_value', 'where: step durations are kept for the whole funnel only; remove where');
  }
  if (r.segments.length > 0) {
    p(
      ['segments'],
      'invalid_value',
      `segments cannot be combined with where (the windows hold no ${dim} × segment combinations); ` +
        'write a rule without where for the segments',
    );
  }
}

/** Receivers: configured ones (when the caller knows them), each once. */
function checkReceivers(r: { notify: readonly string[] }, options: RuleCheckOptions, p: Report): void {
  if (options.knownReceivers) {
    const known = [...options.knownReceivers];
    for (const [i, rc] of r.notify.entries()) {
      if (!options.knownReceivers.has(rc)) {
        p(
          ['notify', i],
          'unknown_receiver',
          `unknown receiver "${rc}"${didYouMeanSuffix(rc, known)}; configured receivers: ${known.join(', ') || 'none'}`,
        );
      }
    }
  }
  duplicates(r.notify).forEach((i) => p(['notify', i], 'duplicate_name', `receiver "${r.notify[i]}" is listed twice`));
}

/** Indexes of the entries that repeat an earlier one. */
function duplicates(values: readonly string[]): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  values.forEach((v, i) => {
    if (seen.has(v)) out.push(i);
    seen.add(v);
  });
  return out;
}

const GATE_METRIC_KEYS = ['cohort_conversion', 'ratio_conversion'] as const;

/**
 * A gate: one conversion of its funnel, a dimension of it to split by, error rates a test can meet, timings the
 * funnel's history covers, receivers that exist (and do not page).
 */
export function checkGate(
  g: GateParsed,
  funnel: FunnelDef,
  src: YamlSource,
  at: readonly PathSegment[],
  options: RuleCheckOptions = {},
): Problem[] {
  const problems: Problem[] = [];
  const p: Report = (path, code, message, target) => {
    problems.push(src.problemAt([...at, ...path], code, message, target));
  };
  checkMetric(g.metric, funnel, p, GATE_METRIC_KEYS, 'a gate compares one conversion: write two gates');
  const unknown = unknownDimensionMessage(funnel, g.split_by);
  if (unknown) p(['split_by'], 'unknown_dimension', unknown);
  if (funnel.bucketMs > DURATIONS.MINUTE || DURATIONS.MINUTE % funnel.bucketMs !== 0) {
    p(
      ['split_by'],
      'invalid_gate',
      `funnel "${funnel.name}" keeps ${formatDuration(funnel.bucketMs)} buckets; a gate looks once a minute, ` +
        `so its funnel's bucket must be 1m or divide a minute (e.g. 30s)`,
    );
  }
  const drop = parsePercent(g.drop);
  if (!(drop > 0 && drop < 1)) p(['drop'], 'invalid_gate', `drop: ${g.drop}: give a harm between 0% and 100%`);
  const falseFail = parsePercent(g.false_fail);
  if (!(falseFail > 0 && falseFail <= 0.2))
    p(
      ['false_fail'],
      'invalid_gate',
      `false_fail: ${g.false_fail}: give a rate above 0% and at most 20% (5% is usual)`,
    );
  const power = parsePercent(g.power);
  if (!(power > 0.5 && power < 1))
    p(['power'], 'invalid_gate', `power: ${g.power}: give more than 50% and less than 100% (80% is usual)`);
  if (g.expected_weight !== undefined) {
    const w = parsePercent(g.expected_weight);
    if (!(w > 0 && w < 1))
      p(['expected_weight'], 'invalid_gate', `expected_weight: ${g.expected_weight}: give a share between 0% and 100%`);
  }
  const warmupMs = parseDuration(g.warmup);
  const maxMs = parseDuration(g.max_duration);
  if (warmupMs % DURATIONS.MINUTE !== 0)
    p(['warmup'], 'invalid_timing', `warmup: ${g.warmup} — a gate counts whole minutes; write e.g. 5m`);
  if (maxMs < DURATIONS.MINUTE || maxMs % DURATIONS.MINUTE !== 0) {
    p(['max_duration'], 'invalid_timing', `max_duration: ${g.max_duration} — give whole minutes, at least 1m`);
  } else if (warmupMs + maxMs > funnel.retention.fineMs) {
    p(
      ['max_duration'],
      'invalid_timing',
      `warmup + max_duration (${formatDuration(warmupMs + maxMs)}) is longer than funnel "${funnel.name}" keeps ` +
        `minutes (${formatDuration(funnel.retention.fineMs)}, retention.fine); shorten it or raise retention.fine`,
    );
  }
  checkReceivers(g, options, p);
  for (const [i, rc] of g.notify.entries()) {
    if (options.pagingReceivers?.has(rc))
      p(
        ['notify', i],
        'invalid_gate',
        `receiver "${rc}" is PagerDuty: a gate's verdict is news for the rollout's owners, not an incident; ` +
          'notify a Slack, webhook or console receiver (the rollout tool acts on a fail)',
      );
  }
  return problems;
}
