/**
 * `funnelwatch silence add | list | expire`: the command-line side of silences. It talks to a running daemon's
 * HTTP API rather than to Redis, so it needs no Redis credentials, and the daemon stays the one place that
 * validates silences and logs who created them.
 *
 * Each function returns the exit code: 0 done, 1 the daemon refused or could not be reached, 2 bad usage (checked
 * here before anything is sent, so a typo in a matcher never reaches the daemon).
 */
import { callDaemon, type DaemonAnswer, type DaemonApiWording, type DaemonClientOptions } from '../core/daemon-api.js';
import { shortTime, textTable } from '../core/text.js';
import { explainDuration } from '../rules/units.js';
import { formatMatchers, tryParseMatcher, type Matcher, type SilenceState } from './silences.js';
import { parseTime } from '../core/time-parse.js';

export interface SilenceAddArgs {
  matchers: string[];
  duration?: string;
  end?: string;
  start?: string;
  author?: string;
  comment?: string;
}

export async function runSilenceAdd(o: DaemonClientOptions, a: SilenceAddArgs): Promise<number> {
  const usage = (msg: string) => {
    o.err(`funnelwatch silence add: ${msg}`);
    return 2;
  };
  if (a.matchers.length === 0) return usage('give at least one matcher, e.g. funnel=checkout');
  const matchers: Matcher[] = [];
  for (const text of a.matchers) {
    const r = tryParseMatcher(text);
    if (!r.ok) return usage(r.message);
    matchers.push(r.matcher);
  }
  if ((a.duration === undefined) === (a.end === undefined))
    return usage('give either --duration (e.g. 2h) or --end (an ISO time), one of them');
  if (a.duration !== undefined) {
    const why = explainDuration(a.duration);
    if (why) return usage(`--duration: ${why}`);
  }
  for (const [flag, v] of [
    ['--end', a.end],
    ['--start', a.start],
  ] as const) {
    if (v === undefined) continue;
    const t = parseTime(v);
    if (!t.ok) return usage(`${flag}: ${t.message}`);
  }
  if (!a.author?.trim()) return usage('--author is required (it defaults to $USER, which is not set)');
  if (!a.comment?.trim()) return usage('--comment is required: say why, e.g. a ticket or the maintenance being done');

  // The end goes as a duration when given as one, so the daemon counts it from its own clock, not this machine's.
  const body = {
    matchers,
    ...(a.start !== undefined ? { startsAt: a.start } : {}),
    ...(a.duration !== undefined ? { duration: a.duration } : { endsAt: a.end }),
    createdBy: a.author.trim(),
    comment: a.comment.trim(),
  };
  const r = await call(o, 'POST', '/v1/silences', body);
  if (!r.ok) return 1;
  o.out(String((r.body as { id?: unknown }).id));
  return 0;
}

export interface SilenceListArgs {
  state?: string;
  json?: boolean;
}

export const LIST_STATES = ['active', 'pending', 'expired', 'all'] as const;

export async function runSilenceList(o: DaemonClientOptions, a: SilenceListArgs): Promise<number> {
  const state = a.state ?? 'all';
  if (!(LIST_STATES as readonly string[]).includes(state)) {
    o.err(`funnelwatch silence list: --state must be one of ${LIST_STATES.join(', ')}`);
    return 2;
  }
  const r = await call(o, 'GET', `/v1/silences?state=${encodeURIComponent(state)}`);
  if (!r.ok) return 1;
  const silences = ((r.body as { silences?: unknown }).silences ?? []) as ListedSilence[];
  if (a.json) {
    o.out(JSON.stringify(silences, null, 2));
    return 0;
  }
  if (silences.length === 0) {
    o.out(state === 'all' ? 'no silences' : `no ${state} silences`);
    return 0;
  }
  for (const line of silenceTable(silences)) o.out(line);
  return 0;
}

export async function runSilenceExpire(o: DaemonClientOptions, a: { id: string }): Promise<number> {
  if (!a.id.trim()) {
    o.err('funnelwatch silence expire: give the id of the silence (see funnelwatch silence list)');
    return 2;
  }
  const r = await call(o, 'DELETE', `/v1/silences/${encodeURIComponent(a.id.trim())}`);
  if (!r.ok) return 1;
  const s = r.body as ListedSilence;
  o.out(`expired ${s.id} (${formatMatchers(s.matchers)})`);
  return 0;
}

interface ListedSilence {
  id: string;
  state: SilenceState;
  matchers: Matcher[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
}

/** A plain-text table, columns padded to their widest cell; the comment last, so a long one only runs long. */
export function silenceTable(silences: readonly ListedSilence[]): string[] {
  return textTable([
    ['ID', 'STATE', 'MATCHERS', 'STARTS', 'UNTIL', 'AUTHOR', 'COMMENT'],
    ...silences.map((s) => [
      s.id,
      s.state,
      formatMatchers(s.matchers),
      shortTime(s.startsAt),
      shortTime(s.endsAt),
      s.createdBy,
      oneLine(s.comment),
    ]),
  ]);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

const WORDING: DaemonApiWording = { addressFlag: '--url', subject: 'the silence' };

function call(o: DaemonClientOptions, method: string, path: string, body?: unknown): Promise<DaemonAnswer> {
  return callDaemon(o, WORDING, method, path, body);
}
