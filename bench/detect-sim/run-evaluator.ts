/**
 * Entry point: funnelwatch's real Evaluator alone on the simulated stream (the bench:detect rule), for iterating on
 * the detector without the reference rules and the Redis timing:
 *   npx tsc -p tsconfig.json --outDir .tmp/bench && node .tmp/bench/bench/detect-sim/run-evaluator.js \
 *     [--weeks N] [--episodes N] [--seed N] [--sizes 0.05,0.1,0.2]
 */
import { runBenchRule } from './evaluator-quality.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}

const weeks = Number(arg('weeks', '20'));
const seed = Number(arg('seed', '1'));
const sizes = arg('sizes', '0.05,0.1,0.2,0.5,1').split(',').map(Number);
const r = await runBenchRule({
  seed,
  warmupWeeks: 5,
  evalWeeks: weeks,
  episodesPerSize: Number(arg('episodes', '100')),
  dropSizes: sizes,
  log: (l) => console.error(`[evaluator] ${l}`),
});
console.log(
  JSON.stringify({
    seed,
    weeks,
    fa_per_week: r.fa_per_week,
    fa_count: r.fa_count,
    delays: r.delays,
    segment: r.segment_drop,
    named: r.segment_named,
    elapsed_ms: r.elapsed_ms,
  }),
);
