import type { DrilldownResult } from '../detect/drilldown.js';
import type { DrilldownSummary } from '../model/alert-context.js';

/**
 * Many dimensions' drill-downs as one statement: the dimension that localises the deficit best speaks first, the
 * one whose named value stands out most from the other values (the largest gap between its drop and theirs; a
 * provider outage also skews every other dimension's values a little, by their mix of that provider).
 */
export function summarizeDrilldown(results: readonly DrilldownResult[]): DrilldownSummary | undefined {
  if (results.length === 0) return undefined;
  const gap = (r: DrilldownResult) => (r.top[0] ? r.top[0].relativeDrop - r.top[0].othersRelativeDrop : 0);
  const localised = results.filter((r) => r.classification === 'localised').sort((a, b) => gap(b) - gap(a));
  const ordered = [...localised, ...results.filter((r) => r.classification !== 'localised')];
  const classification: DrilldownSummary['classification'] =
    localised.length > 0
      ? 'localised'
      : results.some((r) => r.classification === 'global')
        ? 'global'
        : results.some((r) => r.classification === 'mix-shift')
          ? 'mix-shift'
          : 'no-deficit';
  const pct = (x: number) => `${Math.round(100 * x)}%`;
  let summary: string;
  if (classification === 'localised') {
    const best = localised[0]!;
    // A share above 100% means the other values did slightly better than their baselines: "all of it" reads right.
    summary = best.top
      .map(
        (f) =>
          `${best.dimension}=${f.value} carries ${pct(Math.min(1, f.deficitShare))} of the deficit ` +
          `(its rate ${f.relativeDrop >= 0 ? 'fell' : 'rose'} ${pct(Math.abs(f.relativeDrop))}, ` +
          `the others' ${f.othersRelativeDrop >= 0 ? 'fell' : 'rose'} ${pct(Math.abs(f.othersRelativeDrop))})`,
      )
      .join('; ');
  } else if (classification === 'global') {
    summary =
      `no single segment explains it: ` +
      `the drop is spread across the values of ${results.map((r) => r.dimension).join(', ')}`;
  } else if (classification === 'mix-shift') {
    summary = `mix shift: ${results.find((r) => r.classification === 'mix-shift')!.summary.replace(/^[^:]+: mix shift — /, '')}`;
  } else {
    summary = 'no value converts worse than its own baseline';
  }
  return {
    classification,
    summary,
    dimensions: ordered.map((r) => ({
      dimension: r.dimension,
      top: (r.top.length > 0 ? r.top : r.segments.slice(0, 3)).map((f) => ({
        value: f.value,
        expected: round1(f.expected),
        observed: f.observed,
        deficitShare: round3(f.deficitShare),
        rateChanged: f.rateChanged,
      })),
    })),
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
