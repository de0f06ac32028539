/**
 * `npm run bench:probes` — the canary-user scheduler's accuracy (issue 24), a benchmark, not a test.
 *
 * 100 journeys, each `every: 10s`, run for 5 minutes by the real ProbeRunner (src/probes/runner.ts on
 * src/probes/schedule.ts, wall clock) against the demo shop served over HTTP in a child process (so the shop's work
 * does not share the runner's event loop, as in production). Each journey is three HTTP steps (cart, checkout, pay
 * with the stripe test card). The journeys join one every `every / journeys` (100 ms), so their grids interleave as
 * they would after a while in production, and jitter is 0: each run's planned start is exactly its journey's slot,
 * `joined + k × every`, and its drift is the run's actual start (run start − planned, from the run's end event:
 * ts − duration_ms) minus that. A slot that planned a start before the end and has no run is a missed run.
 *
 * Prints a readable table, then one JSON line. Options: --journeys N (100), --every-s N (10), --minutes N (5).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../src/core/clock.js';
import type { FwEvent } from '../src/events/event.js';
import { createLogger } from '../src/obs/logger.js';
import type { EventSink } from '../src/probes/event-sink.js';
import { loadJourneyPaths, type Journey } from '../src/probes/load.js';
import { RUN_FAILED_EVENT, RUN_PASSED_EVENT } from '../src/probes/run-events.js';
import { ProbeRunner } from '../src/probes/runner.js';
import { TEST_CARDS } from '../src/demo/shop-service.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** The child: serves the demo shop on a free port and tells the parent where. */
async function serveShop(): Promise<void> {
  const { Shop } = await import('../src/demo/shop.js');
  const shop = new Shop({ seed: 1, checkoutsPerMinute: 0, startTime: Date.now() });
  const url = await shop.serve(systemClock);
  // The shop's own events are not needed here; drop them every second so they do not pile up.
  setInterval(() => shop.tick(Date.now()), 1_000);
  process.send!({ url });
  process.on('disconnect', () => void shop.close().then(() => process.exit(0)));
}

function journeyYaml(i: number, everyMs: number, base: string): string {
  return `name: bench-${String(i).padStart(3, '0')}
funnel: checkout
every: ${everyMs / 1000}s
timeout: 5s
location: bench
base_url: { production: ${base} }
secrets: { card: { env: BENCH_STRIPE_CARD } }
steps:
  - name: cart
    method: POST
    url: /api/cart
    headers: { x-synthetic: 'true' }
    body: { sku: bench-item }
    extract: { cart: { json: $.cart_id } }
  - name: checkout
    event: checkout_started
    method: POST
    url: /api/cart/{{ vars.cart }}/checkout
    headers: { x-synthetic: 'true' }
    body: { provider: stripe }
    extract: { checkout: { json: $.checkout_id } }
  - name: pay
    event: payment_submitted
    method: POST
    url: /api/checkout/{{ vars.checkout }}/payment
    headers: { x-synthetic: 'true' }
    body: { card: '{{ secrets.card }}' }
    expect: { body: { $.status: authorized } }
`;
}

/** Nearest-rank quantile. */
function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

async function main(): Promise<void> {
  const journeys = arg('journeys', 100);
  const everyMs = arg('every-s', 10) * 1000;
  const minutes = arg('minutes', 5);
  const load0 = loadavg();

  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`the shop process exited (${code})`)));
  });

  const dir = mkdtempSync(join(tmpdir(), 'fw-bench-probes-'));
  for (let i = 0; i < journeys; i++) writeFileSync(join(dir, `j${i}.yaml`), journeyYaml(i, everyMs, url));
  const loaded = await loadJourneyPaths([dir], { environment: 'production' });
  if (!loaded.ok) throw new Error(`bench journeys invalid: ${JSON.stringify(loaded.problems[0])}`);
  const all = [...loaded.set.journeys].sort((a, b) => a.name.localeCompare(b.name));

  const ends: FwEvent[] = [];
  const sink: EventSink = {
    send: async (events) => {
      for (const e of events) if (e.type === RUN_PASSED_EVENT || e.type === RUN_FAILED_EVENT) ends.push(e);
      return { ok: true, accepted: events.length };
    },
    close: async () => undefined,
  };
  const runner = new ProbeRunner({
    sink,
    logger: createLogger({ level: 'error', pretty: false }),
    random: () => 0,
    env: { BENCH_STRIPE_CARD: TEST_CARDS.stripe },
  });
  process.stdout.write(
    `bench:probes: ${journeys} journeys every ${everyMs / 1000} s for ${minutes} min against the demo shop at ${url}` +
      ` (3 HTTP steps each) …\n`,
  );
  const joined = new Map<string, number>();
  const active: Journey[] = [];
  runner.start();
  const stagger = everyMs / journeys;
  for (const j of all) {
    active.push(j);
    joined.set(j.name, Date.now());
    runner.use({ journeys: [...active], version: `bench-${active.length}` });
    await sleep(stagger);
  }
  const endAt = [...joined.values()][0]! + minutes * 60_000;
  await sleep(Math.max(0, endAt - Date.now()));
  const stoppedAt = Date.now();
  await runner.stop();
  child.disconnect();
  rmSync(dir, { recursive: true, force: true });
  const load1 = loadavg();

  // Runs by journey: the slot each belongs to and its drift.
  const drifts: number[] = [];
  const durations: number[] = [];
  let failures = 0;
  let missed = 0;
  let expected = 0;
  let onSlots = 0;
  const seen = new Map<string, Set<number>>();
  for (const e of ends) {
    const start = e.ts - Number(e.attrs.duration_ms);
    const t0 = joined.get(e.attrs.probe!)!;
    const k = Math.round((start - t0) / everyMs);
    drifts.push(start - (t0 + k * everyMs));
    durations.push(Number(e.attrs.duration_ms));
    if (e.type === RUN_FAILED_EVENT) failures++;
    const s = seen.get(e.attrs.probe!) ?? new Set<number>();
    s.add(k);
    seen.set(e.attrs.probe!, s);
  }
  // A slot is expected when its planned start is a second or more before the stop (a run starting then is seen);
  // runs of slots after that are not counted.
  for (const [name, t0] of joined) {
    const slots = Math.floor((stoppedAt - 1_000 - t0) / everyMs) + 1;
    expected += slots;
    const got = seen.get(name) ?? new Set<number>();
    for (let k = 0; k < slots; k++) {
      if (got.has(k)) onSlots++;
      else missed++;
    }
  }
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const result = {
    bench: 'probes',
    journeys,
    every_ms: everyMs,
    minutes,
    runs_expected: expected,
    runs_started: onSlots,
    missed_runs: missed,
    failed_runs: failures,
    drift_p50_ms: r1(quantile(drifts, 0.5)),
    drift_p99_ms: r1(quantile(drifts, 0.99)),
    drift_max_ms: r1(Math.max(...drifts)),
    run_p50_ms: r1(quantile(durations, 0.5)),
    run_p99_ms: r1(quantile(durations, 0.99)),
    cpus: cpus().length,
    load_start: load0.map((x) => r1(x)),
    load_end: load1.map((x) => r1(x)),
    node: process.version,
  };
  const rows: [string, string][] = [
    ['journeys × every', `${journeys} × ${everyMs / 1000} s, ${minutes} min`],
    ['runs expected / started', `${expected} / ${onSlots} (${ends.length - onSlots} more in the last second)`],
    ['missed runs', String(missed)],
    ['failed runs', String(failures)],
    ['start drift p50 / p99 / max', `${result.drift_p50_ms} / ${result.drift_p99_ms} / ${result.drift_max_ms} ms`],
    ['run duration p50 / p99', `${result.run_p50_ms} / ${result.run_p99_ms} ms`],
    ['machine', `${result.cpus} CPUs, node ${process.version}`],
    ['load average (1/5/15 min)', `start ${result.load_start.join(' ')}, end ${result.load_end.join(' ')}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\n${rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n')}\n\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv.includes('--serve')) await serveShop();
else await main();
