/**
 * `npm run bench:replay` — how much faster than real time `funnelwatch replay` runs (issue 7 asks ≥ 20×).
 *
 * Generates N hours (default 24, `--hours N`) of the demo shop at 1,000 checkout starts a minute (plus its signups)
 * as NDJSON, then replays it with the example rules (rules/: both funnels, all their rules) on a redis-server the
 * replay starts itself, exactly as `funnelwatch replay --events FILE --rules rules` would. An adyen outage in the
 * last quarter of the data gives the evaluator an incident to work through. Prints a readable report, then one
 * JSON line.
 */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Shop } from '../src/demo/shop.js';
import { formatReplaySummary, runReplay } from '../src/replay/replay.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const MIN = 60_000;
const hours = arg('hours', 24);
const log = (l: string) => console.error(`[bench:replay] ${l}`);
const RULES = fileURLToPath(new URL('../../../rules', import.meta.url));
const start = Date.UTC(2026, 9, 5, 0, 0, 0);

const dir = mkdtempSync(join(tmpdir(), 'fw-bench-replay-'));
const file = join(dir, 'events.ndjson');
try {
  // The shop starts a checkout for 80% of its journeys: 1,250 journeys a minute are 1,000 checkout starts.
  const shop = new Shop({ seed: 7, checkoutsPerMinute: 1_250, startTime: start });
  const minutes = hours * 60;
  shop.setProviderFailure('adyen', 0.8, start + Math.floor(minutes * 0.75) * MIN);
  shop.setProviderFailure('adyen', 0, start + Math.floor(minutes * 0.75 + 30) * MIN);
  const out = createWriteStream(file);
  let events = 0;
  const genStart = Date.now();
  for (let k = 0; k < minutes; k++) {
    const chunk = shop
      .tick(start + (k + 1) * MIN - 1)
      .map((e) => `${JSON.stringify(e)}\n`)
      .join('');
    events += chunk.length ? chunk.split('\n').length - 1 : 0;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  log(
    `generated ${hours} h, ${events} events ` +
      `(${(statSync(file).size / 1e6).toFixed(0)} MB) in ${((Date.now() - genStart) / 1000).toFixed(1)} s`,
  );

  let transitions = 0;
  const summary = await runReplay({
    events: [file],
    rulesDir: RULES,
    out: () => {
      transitions++;
    },
    progress: (p) =>
      log(
        `${new Date(p.virtualAt).toISOString()}  ${p.eventsRead} events, ` +
          `${Math.round(p.minutes / (p.wallMs / MIN))}× real time`,
      ),
  });
  console.log(formatReplaySummary(summary));
  const wallSeconds = summary.wallMs / 1000;
  const speedup = (summary.virtualMinutes * MIN) / summary.wallMs;
  console.log(
    `\n${hours} h of 1,000 checkout starts a minute replayed in ${wallSeconds.toFixed(1)} s: ` +
      `${speedup.toFixed(0)}× real time ` +
      `(${Math.round(summary.eventsRead / wallSeconds)} events/s; ${transitions} transitions)`,
  );
  console.log(
    JSON.stringify({
      virtual_minutes: summary.virtualMinutes,
      wall_seconds: Number(wallSeconds.toFixed(2)),
      speedup: Number(speedup.toFixed(1)),
      events: summary.eventsRead,
      events_per_s: Math.round(summary.eventsRead / wallSeconds),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
