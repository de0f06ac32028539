/**
 * Entry point: funnelwatch's real Evaluator alone on the simulated stream (the bench:detect rule), for iterating on
 * the detector without the reference rules and the Redis timing:
 *   npx tsc -p tsconfig.json --outDir .tmp/bench && node .tmp/bench/bench/detect-sim/run-evaluator.js \
 *     [--weeks N] [--episodes N] [--seed N] [--sizes 0.05,0.1,0.2]
 */
import { FUNNEL, runEvaluatorQuality } from './evaluator-quality.js';
import { generateStream } from './stream.js';
import type { AlertRuleDef } from '../../src/rules/rule.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}

const weeks = Number(arg('weeks', '20'));
const seed = Number(arg('seed', '1'));
const sizes = arg('sizes', '0.05,0.1,0.2,0.5,1').split(',').map(Number);
const rule: AlertRuleDef = {
  name: 'checkout-completion-drop', funnel: FUNNEL.name,
  metric: { kind: 'cohort_conversion', from: 'started', to: 'completed' },
  direction: 'drop', minChange: 0.05, baseline: { kind: 'seasonal', weeks: 4 }, falseAlarmsPerWeek: 1, minVolume: 100,
  forMs: 0, resolveAfterMs: 10 * 60_000, severity: 'critical', segments: ['platform'], notify: ['console'], labels: {},
  mixShift: 'ignore', source: { file: 'bench/detect-sim/run-evaluator.ts', line: 1, col: 1 },
};
const stream = generateStream({ seed, weeks: 5 + weeks });
const r = await runEvaluatorQuality({
  stream, warmupWeeks: 5, evalWeeks: weeks, episodesPerSize: Number(arg('episodes', '100')), dropSizes: sizes,
  segmentDrop: { segment: 'android', size: 0.5 }, onsetTraffic: [900, 1100], rule, log: (l) => console.error(`[evaluator] ${l}`),
});
console.log(JSON.stringify({ seed, weeks, fa_per_week: r.fa_per_week, fa_count: r.fa_count, delays: r.delays, segment: r.segment_drop, named: r.segment_named, elapsed_ms: r.elapsed_ms }));
