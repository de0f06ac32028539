/**
 * Entry point: detector-only quality run. Prints progress, a readable table, and one JSON line.
 * npx tsc -p tsconfig.json --outDir .tmp/detect && node .tmp/detect/bench/detect-sim/run-quality.js [--weeks N]
 * [--episodes N] [--seed N]
 */
import { runDetectionQuality } from './harness.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** `--stream '{"wobble":{"fastSd":0.01,"slowSd":0,"slowMinutes":30}}'` overrides stream settings. */
function streamOverrides(): Record<string, unknown> {
  const i = process.argv.indexOf('--stream');
  return i >= 0 ? (JSON.parse(process.argv[i + 1] ?? '{}') as Record<string, unknown>) : {};
}

const report = runDetectionQuality({
  evalWeeks: arg('weeks', 20),
  episodesPerSize: arg('episodes', 150),
  stream: { seed: arg('seed', 1), ...streamOverrides() },
  log: (l) => console.error(`[detect-sim] ${l}`),
});

const rows: string[][] = [
  [
    'detector',
    'FA/week',
    'FA in surges',
    ...Object.keys(report.scan.delays).map((k) => `${k} mean/p90`),
    'segment 50%',
    '2% paged',
  ],
];
for (const [name, r] of [
  ['scan', report.scan],
  ['prometheus 10m<0.95×1w for 5m', report.ref_prometheus],
  ['2 SD (2h) for 5m', report.ref_2sd],
] as const) {
  rows.push([
    name,
    String(r.fa_per_week),
    String(r.fa_during_surges),
    ...Object.values(r.delays).map((d) => `${d.mean}/${d.p90} (${d.detected}/${d.n - d.pre_alarmed})`),
    `${r.segment_drop.mean}/${r.segment_drop.p90} ` +
      `(${r.segment_drop.detected}/${r.segment_drop.n - r.segment_drop.pre_alarmed})`,
    String(r.below_half_paged),
  ]);
}
rows.push([
  'CUSUM limit',
  '1',
  '',
  ...Object.values(report.scan.delays).map((d) => `${d.limit}`),
  String(report.scan.segment_drop.limit),
  '',
]);
rows.push([
  'limit with τ',
  '1',
  '',
  ...Object.values(report.scan.delays).map((d) => `${d.limit_model}`),
  String(report.scan.segment_drop.limit_model),
  '',
]);
rows.push([
  'limit, lag-aware',
  '1',
  '',
  ...Object.values(report.scan.delays).map((d) => `${d.limit_lag}`),
  String(report.scan.segment_drop.limit_lag),
  '',
]);
rows.push([
  'limit, lag-aware with τ',
  '1',
  '',
  ...Object.values(report.scan.delays).map((d) => `${d.limit_lag_model}`),
  String(report.scan.segment_drop.limit_lag_model),
  '',
]);
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
console.log(
  `delay ratio vs CUSUM limit: ${JSON.stringify(report.scan.delay_ratio)}; ` +
    `vs limit with the stream's wobble: ${JSON.stringify(report.scan.delay_ratio_model)}`,
);
console.log(
  JSON.stringify({
    fa_per_week: report.scan.fa_per_week,
    delay_ratio: report.scan.delay_ratio,
    delay_ratio_model: report.scan.delay_ratio_model,
    delay_ratio_lag: report.scan.delay_ratio_lag,
    delay_ratio_lag_model: report.scan.delay_ratio_lag_model,
    mean_delay_min: Object.fromEntries(Object.entries(report.scan.delays).map(([k, v]) => [k, v.mean])),
    p90_delay_min_5pct: report.scan.delays['5%']?.p90,
    segment_drop_detected:
      report.scan.segment_drop.detected /
      Math.max(1, report.scan.segment_drop.n - report.scan.segment_drop.pre_alarmed),
    segment_named: report.scan.segment_named,
    below_half_paged: report.scan.below_half_paged,
    onset_abs_err_min: report.scan.onset_abs_err_min,
    onset_err_by_kind: report.scan.onset_err_by_kind,
    ref_prometheus: {
      fa_per_week: report.ref_prometheus.fa_per_week,
      delay_ratio: report.ref_prometheus.delay_ratio,
      mean_delay_min: Object.fromEntries(Object.entries(report.ref_prometheus.delays).map(([k, v]) => [k, v.mean])),
    },
    ref_2sd: {
      fa_per_week: report.ref_2sd.fa_per_week,
      delay_ratio: report.ref_2sd.delay_ratio,
      mean_delay_min: Object.fromEntries(Object.entries(report.ref_2sd.delays).map(([k, v]) => [k, v.mean])),
    },
    weeks: report.weeks,
    tau2: report.tau2,
    elapsed_ms: report.elapsed_ms,
  }),
);
