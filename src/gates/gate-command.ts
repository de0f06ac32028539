/**
 * `funnelwatch gate <name> --canary V --baseline V [--wait 45m]`: the canary gate for plain CI pipelines. It asks a
 * running daemon's API (core/daemon-api.ts) for the verdict, once a minute by default (the gate moves once a
 * minute), printing one progress line per look, until the verdict is decided or `--wait` is over.
 *
 * Exit codes: 0 pass, 1 fail, 3 still inconclusive at the end of --wait (including a canary with no traffic yet),
 * 2 bad usage or a request the daemon refused (unknown gate, unknown dimension) or could not answer.
 * `--report` prints the go/no-go evidence as Markdown at the end (for the change record); `--json` the answer.
 */
import { callDaemon, type DaemonApiWording, type DaemonClientOptions } from '../core/daemon-api.js';
import { shortTime } from '../core/text.js';
import { formatCount, formatPercent, formatSignedChange } from '../notify/format.js';
import { parseDuration } from '../rules/units.js';
import { DURATION_PATTERN } from '../rules/units.js';
import { evidenceMarkdown, type GateEvidence } from './gate-evidence.js';

export interface GateArgs {
  canary?: string;
  baseline?: string;
  /** How long to keep asking (duration); default 0: ask once. */
  wait?: string;
  /** Between looks (duration); default 1m. */
  interval?: string;
  since?: string;
  weight?: string;
  splitBy?: string;
  report?: boolean;
  json?: boolean;
}

export interface GateCommandEnv {
  /** The clock the wait is measured on, and how to pause between looks (tests pass the real ones). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const WORDING: DaemonApiWording = { addressFlag: '--url', subject: 'the gate request' };
const EXIT = { pass: 0, fail: 1, usage: 2, inconclusive: 3 } as const;

export async function runGateCommand(
  o: DaemonClientOptions,
  name: string,
  a: GateArgs,
  env: GateCommandEnv = {},
): Promise<number> {
  const now = env.now ?? Date.now;
  const sleep = env.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const usage = (msg: string) => {
    o.err(`funnelwatch gate: ${msg}`);
    return EXIT.usage;
  };
  if (!a.canary?.trim()) return usage('--canary is required: the canary value of the gate dimension, e.g. 5.3.0');
  if (!a.baseline?.trim()) return usage('--baseline is required: the stable value to compare with, e.g. 5.2.0');
  const durations: Record<'wait' | 'interval', number> = { wait: 0, interval: 60_000 };
  for (const k of ['wait', 'interval'] as const) {
    const v = a[k];
    if (v === undefined) continue;
    if (!new RegExp(DURATION_PATTERN).test(v)) return usage(`--${k} ${JSON.stringify(v)}: give a duration, e.g. 45m`);
    durations[k] = parseDuration(v);
  }
  if (durations.interval < 1_000) return usage('--interval must be at least 1s');
  const params = new URLSearchParams({ canary: a.canary.trim(), baseline: a.baseline.trim() });
  if (a.since !== undefined) params.set('since', a.since);
  if (a.weight !== undefined) params.set('weight', a.weight);
  if (a.splitBy !== undefined) params.set('split_by', a.splitBy);
  const path = `/v1/gates/${encodeURIComponent(name)}/verdict?${params}`;

  const deadline = now() + durations.wait;
  let last: GateEvidence | undefined;
  for (;;) {
    const res = await callDaemon(o, WORDING, 'GET', path);
    if (res.ok) {
      last = res.body as GateEvidence;
      o.out(`${shortTime(now())}  ${progressLine(last)}`);
      if (last.verdict !== 'inconclusive') break;
    } else if (res.code !== 'GATE_VALUE_UNSEEN' && (res.status ?? 500) < 500) {
      return EXIT.usage; // refused: the message is printed; asking again would not change the answer
    }
    // Not seen yet, not reachable, or a 5xx: the daemon or the canary's traffic may come; ask again until the end.
    if (now() + durations.interval > deadline) break;
    await sleep(durations.interval);
  }
  if (!last) {
    o.err(`funnelwatch gate: no verdict by the end of --wait (${a.wait ?? '0s'})`);
    return EXIT.inconclusive;
  }
  if (a.json) o.out(JSON.stringify(last, null, 2));
  else o.out(last.explanation);
  if (a.report) o.out(evidenceMarkdown(last));
  if (last.verdict === 'inconclusive' && durations.wait > 0)
    o.err(`funnelwatch gate: still inconclusive at the end of --wait ${a.wait}`);
  return EXIT[last.verdict];
}

/** One look: "inconclusive (collecting)  canary 41.0% of 1,234 · baseline 60.3% of 11,020 · effect −32% …". */
export function progressLine(e: GateEvidence): string {
  if (e.minutesUsed === 0)
    return `${e.verdict} (${e.reason})  ${e.warmupExcludedMinutes} min of warm-up so far, no comparison yet`;
  const ef = e.effect;
  const sign = (x: number | null) => formatSignedChange(x) || '±0%';
  const interval =
    ef.lower !== null && ef.upper !== null
      ? ` [${sign(ef.lower)} … ${sign(ef.upper)}]`
      : ef.upper !== null
        ? ` [at most ${sign(ef.upper)}]`
        : ef.lower !== null
          ? ` [at least ${sign(ef.lower)}]`
          : '';
  const eta =
    e.verdict === 'inconclusive' && e.minutesToDecision !== null ? ` · ~${e.minutesToDecision} min to decide` : '';
  return (
    `${e.verdict} (${e.reason})  ` +
    `canary ${formatPercent(e.canary.rate)} of ${formatCount(e.canary.trials)} · ` +
    `baseline ${formatPercent(e.baseline.rate)} of ${formatCount(e.baseline.trials)} · ` +
    `effect ${formatSignedChange(ef.estimate) || '?'}${interval}` +
    `${e.srm.mismatch ? ' · SPLIT MISMATCH' : ''} · ${e.minutesUsed} min of data${eta}`
  );
}
