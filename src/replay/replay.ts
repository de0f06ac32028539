/**
 * `funnelwatch replay`: recorded events through the daemon's own code on a virtual clock.
 *
 * Nothing here re-implements the pipeline. Each line goes through `parseEvent` (rejects counted by its reason
 * codes), valid events through `DirectIngestTarget` → `createIngestHandler` → `RedisWindowStore.applyBatch` (the
 * path HTTP ingest takes without Kafka), then every virtual minute, as the daemon's ticker does at minute end + 5 s:
 * compaction of every funnel, a lease renewal, `Evaluator.tick(now)` (state machine, drill-down, deploy
 * correlation, incident grouping, fenced commit through `RedisAlertStore`). No delivery outbox runs: the jobs stay
 * in the private prefix and are deleted with it; each transition the tick reports becomes one JSON line, and so
 * does each notification the receivers would get (`"kind":"notification"`: trigger, update, resolve, reminder).
 *
 * Event-time order with a bounded reorder buffer, not a full sort: weeks of 1,000 checkouts a minute are tens of
 * millions of lines, more than memory should hold. Events are kept per minute until the newest event time read is
 * `reorderMs` past that minute's end (default: the funnels' largest allowed lateness, at least 10 minutes), then
 * applied in time order. An event that comes later than that is applied with the minute being processed, exactly
 * as a late event reaches the daemon: the window store decides (counts it, or drops it past the allowed lateness).
 * Files are read one after the other, so several files must be consecutive pieces of one stream, not parallel
 * partitions covering the same hours.
 *
 * Determinism: the JSONL holds only virtual times and values computed from the events; the random key prefix and
 * wall-clock figures go to the summary (stderr) alone.
 */
import type { UnmatchedReport } from '../ingest/unmatched.js';
import { createReadStream } from 'node:fs';
import { access, open, readFile, constants as fsConstants } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { createRedisClient, deleteByPrefix, type RedisLike } from '../redis/client.js';
import { ManualClock } from '../core/clock.js';
import { FwError, errorMessage } from '../core/errors.js';
import { DEFAULT_PARSE_OPTIONS, parseEvent, type ParseOptions } from '../events/parse.js';
import { funnelBit, funnelMasks } from '../ingest/batch-plan.js';
import type { FunnelDef } from '../funnels/funnel.js';
import { createLogger, type Logger } from '../obs/logger.js';
import { Metrics } from '../obs/metrics.js';
import { loadRuleDir } from '../rules/loader.js';
import { formatProblem } from '../rules/problem.js';
import type { RuleSet } from '../rules/rule-set.js';
import { DirectIngestTarget } from '../ingest/http-ingest.js';
import type { DeadLetterSink } from '../ingest/dead-letter.js';
import type { TickReport } from '../engine/evaluator.js';
import type { AlertTransition } from '../model/alert-transition.js';
import { alertKey } from '../model/alert-key.js';
import { headline } from '../notify/format.js';
import type { DeliveryJob } from '../notify/receiver.js';
import { validateDeployInput, type Deploy } from '../deploys/deploy.js';
import { buildCore, defaultCoreSettings } from '../app/build-core.js';
import { startRedisServer, type RedisServerHandle } from '../devenv/redis-server.js';

const MIN = 60_000;
/** The daemon's ticker runs at second 5 of each minute: the minute just ended is looked at then. */
export const TICK_DELAY_MS = 5_000;
/** Events per applyBatch call: one Lua call per funnel stays a few hundred KB. */
const APPLY_CHUNK = 5_000;
/** Long enough that no deploy marker of any replayed history is trimmed as too old. */
const DEPLOY_RETENTION_MS = 100 * 365 * 86_400_000;

export interface ReplayProgress {
  eventsRead: number;
  /** Virtual time evaluated up to (ms). */
  virtualAt: number;
  minutes: number;
  transitions: number;
  wallMs: number;
}

export interface ReplayOptions {
  events: readonly string[];
  rulesDir: string;
  /** Only events with from ≤ ts < to are applied (ms since the epoch). */
  from?: number;
  to?: number;
  deploysFile?: string;
  /** An existing Redis; a private random prefix is used and removed. Absent: a redis-server is started. */
  redisUrl?: string;
  /** `redisUrl` is a Redis Cluster (any node, or node URLs separated by commas). */
  redisCluster?: boolean;
  /** Receives each JSONL line (without the newline). */
  out: (line: string) => void | Promise<void>;
  progress?: (p: ReplayProgress) => void;
  progressEveryMs?: number;
  /** See the module comment; default max(allowed lateness of the funnels, 10 min). */
  reorderMs?: number;
  /** The environment the daemon watches (FW_ENVIRONMENT; default production, '' every one alike): deploys to
   *  others rank lower, as in the daemon. */
  environment?: string;
  logger?: Logger;
}

/**
 * What became of the events of the lines handed to one funnel (a line whose type two funnels use counts in both):
 * `lines` = used + filtered + duplicate + late + noEntity.
 */
export interface FunnelAccount {
  lines: number;
  /** Applied by a step: entries, steps (out-of-order ones included), and later steps without entry or expired. */
  used: number;
  entries: number;
  steps: number;
  noEntry: number;
  expired: number;
  /** Of a step's event type, turned away by the step's `where`. */
  filtered: number;
  /** The entity reached the step before. */
  duplicate: number;
  /** Later than the funnel's allowed lateness. */
  late: number;
  /** No entity under the funnel's `entity` field. */
  noEntity: number;
}

export interface ReplaySummary {
  /** Every line of the input files: linesRead = blankLines + Σ rejected + outsideRange + eventsAccepted. */
  linesRead: number;
  blankLines: number;
  /** Non-blank lines. */
  eventsRead: number;
  /** Valid events inside the range, handed to ingest. */
  eventsAccepted: number;
  /** Window entries and steps the store recorded (an event matching two funnels counts twice). */
  eventsApplied: number;
  /** Valid events no funnel step uses (eventsAccepted = eventsIgnored + eventsToFunnels). */
  eventsIgnored: number;
  /** Valid events of a type some funnel's step uses. */
  eventsToFunnels: number;
  /** The ignored events by type, most first (at most 50 types named). */
  unusedTypes?: { type: string; count: number }[];
  /** Steps whose `where` filter turned away (almost) all the events of their type over the run. */
  unmatched?: UnmatchedReport[];
  /** Per funnel, what became of its events. */
  funnels: Record<string, FunnelAccount>;
  rejected: Record<string, number>;
  outsideRange: number;
  /** Arrived more than the reorder window behind newer events; applied late, as the daemon would. */
  lateBeyondReorder: number;
  /** Dropped by the window store as later than the funnel's allowed lateness. */
  lateDropped: number;
  deploys: number;
  virtualFrom: number | null;
  virtualTo: number | null;
  virtualMinutes: number;
  transitions: number;
  /** Incident groups triggered at a receiver (pages), after inhibition, silences and grouping. */
  pages: number;
  /** Notification lines written (trigger, update, resolve, reminder, per receiver). */
  notifications: number;
  alerts: Record<string, Record<string, number>>;
  wallMs: number;
  /** Virtual minutes per wall minute. */
  speed: number;
}

/** One JSONL line: what the daemon would have announced, in plain values. */
export function transitionLine(t: AlertTransition, notified: readonly string[] = []): string {
  const e = t.evidence;
  const iso = (ms: number | null | undefined) =>
    ms === null || ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString();
  const line = {
    time: iso(t.at),
    rule: t.rule,
    funnel: t.funnel,
    segment: t.segment ? `${t.segment.dimension}=${t.segment.value}` : null,
    kind: t.kind,
    from: t.from,
    to: t.to,
    severity: t.severity,
    incident: t.incidentId ?? null,
    observed: e?.observed ?? null,
    expected: e?.expected ?? null,
    observedRate: e?.observedRate ?? null,
    expectedRate: e?.expectedRate ?? null,
    relativeChange: e?.relativeChange ?? null,
    volume: e?.volume ?? null,
    onset: iso(e?.onset),
    ...(e?.guard ? { guard: e.guard } : {}),
    ...(e?.reason ? { reason: e.reason } : {}),
    deploys: (t.context?.deploys ?? [])
      .slice(0, 3)
      .map((d) => ({ service: d.service, version: d.version, ts: iso(d.ts), score: d.score, why: d.why })),
    drilldown: t.context?.drilldown
      ? { classification: t.context.drilldown.classification, summary: t.context.drilldown.summary }
      : null,
    // Where the daemon would have sent it (after silences and drill-down inhibition); empty for a state change
    // that pages nobody.
    notified,
  };
  // JSON has no NaN/Infinity; the alert store reads them back as null, so do the same here.
  return JSON.stringify(line, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

/**
 * One JSONL line per notification a receiver would get: the incident group, what the notification does (trigger,
 * update, resolve, reminder) and its members, so a rule change can be judged by the pages it would have sent.
 */
export function notificationLine(j: DeliveryJob): string {
  const g = j.group!;
  const iso = (ms: number | undefined) =>
    ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString();
  const line = {
    kind: 'notification',
    receiver: j.receiver,
    group: g.id,
    action: g.action,
    time: iso(j.createdAt),
    labels: g.labels,
    severity: j.alert.severity,
    summary: headline(j.alert),
    cause: g.cause ?? null,
    firing: g.firing,
    resolved: g.resolved,
    joined: g.joined,
    left: g.left,
    members: g.members.map((m) => ({
      rule: m.rule,
      segment: m.segment,
      status: m.status,
      severity: m.severity,
      observedRate: m.observedRate ?? null,
      expectedRate: m.expectedRate ?? null,
    })),
  };
  return JSON.stringify(line, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

/** Deletes every key under `prefix:` (hash-tagged ones included), in SCAN pages. */
export async function deletePrefix(redis: RedisLike, prefix: string): Promise<number> {
  return deleteByPrefix(redis, prefix);
}

export async function assertReadable(path: string, what: string): Promise<void> {
  try {
    await access(path, fsConstants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errorMessage(err);
    throw new FwError('REPLAY_UNREADABLE', `${what} ${path}: ${reason}`);
  }
}

export async function loadRulesOrThrow(dir: string): Promise<RuleSet> {
  const res = await loadRuleDir(dir, { requireReceivers: false });
  if (!res.ok) {
    throw new FwError(
      'RULES_INVALID',
      `the rules in ${dir} are invalid:\n${res.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`,
    );
  }
  return res.ruleSet;
}

/** Lines of a file, gunzipped when it starts with the gzip magic bytes (whatever its name). */
async function* fileLines(path: string): AsyncGenerator<string> {
  const magic = Buffer.alloc(2);
  try {
    const fh = await open(path, 'r');
    try {
      await fh.read(magic, 0, 2, 0);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new FwError('REPLAY_UNREADABLE', `events file ${path}: ${errorMessage(err)}`, { cause: err });
  }
  const raw = createReadStream(path);
  const stream = magic[0] === 0x1f && magic[1] === 0x8b ? raw.pipe(createGunzip()) : raw;
  raw.on('error', (err) => stream.destroy(err));
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } catch (err) {
    throw new FwError('REPLAY_UNREADABLE', `events file ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

async function readDeploys(path: string): Promise<{ deploys: Deploy[] }> {
  const text = await readFile(path, 'utf8');
  const deploys: Deploy[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let doc: unknown;
    try {
      doc = JSON.parse(line);
    } catch (err) {
      problems.push(`${path}:${i + 1}: not valid JSON: ${errorMessage(err)}`);
      return;
    }
    if (!doc || typeof doc !== 'object' || !('ts' in doc)) {
      problems.push(`${path}:${i + 1}: a replayed deploy marker needs its ts (there is no "now" to default to)`);
      return;
    }
    // Validated as if received far in the future: "too far ahead" means nothing for recorded history.
    const v = validateDeployInput(doc, 8.64e15);
    if (!v.ok) problems.push(...v.problems.map((p) => `${path}:${i + 1}: ${p}`));
    else deploys.push({ ...v.value, receivedAt: v.value.ts });
  });
  if (problems.length > 0)
    throw new FwError('REPLAY_BAD_DEPLOYS', `invalid deploy markers:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return { deploys };
}

interface Pending {
  ts: number;
  seq: number;
  entity: string;
  json: string;
}

export async function runReplay(opts: ReplayOptions): Promise<ReplaySummary> {
  const wallStart = Date.now();
  if (opts.events.length === 0) throw new FwError('REPLAY_USAGE', 'give at least one events file');
  for (const f of opts.events) await assertReadable(f, 'events file');
  if (opts.deploysFile) await assertReadable(opts.deploysFile, 'deploys file');
  const ruleSet = await loadRulesOrThrow(opts.rulesDir);
  const markers = opts.deploysFile ? (await readDeploys(opts.deploysFile)).deploys : [];
  const funnels = ruleSet.funnels;
  const reorderMs = opts.reorderMs ?? Math.max(10 * MIN, ...funnels.map((f) => f.allowedLatenessMs));
  const logger = opts.logger ?? createLogger({ level: 'warn', pretty: false, destination: process.stderr });

  let server: RedisServerHandle | null = null;
  let redis: RedisLike | null = null;
  const prefix = `fw-replay-${randomBytes(5).toString('hex')}`;
  try {
    if (!opts.redisUrl) server = await startRedisServer();
    redis = createRedisClient({
      url: opts.redisUrl ?? server!.url,
      cluster: opts.redisUrl !== undefined && opts.redisCluster === true,
      maxRetriesPerRequest: 3,
    });
    await redis.connect().catch((err: unknown) => {
      throw new FwError(
        'REPLAY_REDIS',
        `cannot connect to Redis at ${opts.redisUrl ?? server!.url}: ${errorMessage(err)}`,
        { cause: err },
      );
    });
    return await drive(redis, prefix, ruleSet, markers, reorderMs, logger, opts, wallStart);
  } finally {
    if (redis) {
      if (opts.redisUrl)
        await deletePrefix(redis, prefix).catch((err: unknown) =>
          logger.warn({ prefix, err: errorMessage(err) }, 'could not delete the replay keys'),
        );
      redis.disconnect();
    }
    await server?.stop();
  }
}

async function drive(
  redis: RedisLike,
  prefix: string,
  ruleSet: RuleSet,
  markers: Deploy[],
  reorderMs: number,
  logger: Logger,
  opts: ReplayOptions,
  wallStart: number,
): Promise<ReplaySummary> {
  const funnels: readonly FunnelDef[] = ruleSet.funnels;
  const clock = new ManualClock(0);
  const metrics = new Metrics({ defaultMetrics: false });
  // The daemon's core with its default settings (data_stale, segments, deploy correlation behave as they would
  // live), everything under the private prefix; no silences, and the transitions become JSON lines (below).
  const settings = defaultCoreSettings({
    FW_DEPLOY_RETENTION_MS: DEPLOY_RETENTION_MS,
    ...(opts.environment !== undefined ? { FW_ENVIRONMENT: opts.environment } : {}),
  });
  const core = buildCore({
    redis,
    prefix,
    settings,
    clock,
    logger,
    metrics,
    rules: () => ruleSet,
    funnels: () => funnels,
    notifier: { notify: async () => {} },
    lease: { owner: 'replay', ttlMs: 10 * MIN },
  });
  const { windows, lease, evaluator, deploys: deployStore } = core;
  const rejected: Record<string, number> = {};
  const count = (reason: string) => {
    rejected[reason] = (rejected[reason] ?? 0) + 1;
  };
  // Everything invalid is caught before ingest (below); the handler re-parses with the same options, so this sink
  // only sees what the two passes disagree on, counted like the rest.
  const deadLetters: DeadLetterSink = { send: async (items) => items.forEach((d) => count(d.reason)) };
  const parse = core.parse;
  const target = new DirectIngestTarget(core.ingestHandler(deadLetters), windows, () => funnels, 'replay');

  clock.set(markers.length ? Math.min(...markers.map((d) => d.ts)) : 0);
  for (const d of markers) await deployStore.add(d);

  const s: ReplaySummary = {
    linesRead: 0,
    blankLines: 0,
    eventsRead: 0,
    eventsAccepted: 0,
    eventsApplied: 0,
    eventsIgnored: 0,
    eventsToFunnels: 0,
    funnels: {},
    rejected,
    outsideRange: 0,
    lateBeyondReorder: 0,
    lateDropped: 0,
    deploys: markers.length,
    virtualFrom: null,
    virtualTo: null,
    virtualMinutes: 0,
    transitions: 0,
    pages: 0,
    notifications: 0,
    alerts: {},
    wallMs: 0,
    speed: 0,
  };
  const byMinute = new Map<number, Pending[]>();
  // The virtual clock starts at the first event in range, not at `from`: minutes before any data say nothing.
  let cursor: number | null = null;
  let newest = -Infinity;
  /** The newest event time read, in the range or not: the stream's "now" that judges an event too old. */
  let newestSeen = -Infinity;
  let seq = 0;
  let lastProgress = Date.now();
  const everyMs = opts.progressEveryMs ?? 5_000;
  // Parsed once here for the event time. Recorded events cannot come from the future: the wall clock bounds them.
  // Their age is judged against the stream itself (below), not against today: an event more than FW_EVENT_MAX_AGE_MS
  // behind the newest one read is `too_old`, as it would be live. Times before 2000 are implausible (parse.ts).
  const preParse: ParseOptions = { ...parse, now: Date.now(), maxAgeMs: undefined };
  const maxAgeMs = parse.maxAgeMs ?? DEFAULT_PARSE_OPTIONS.maxAgeMs!;
  const masks = funnelMasks(funnels);
  const linesPerFunnel = funnels.map(() => 0);

  const processMinute = async (start: number) => {
    const batch = byMinute.get(start) ?? [];
    byMinute.delete(start);
    const end = start + MIN;
    clock.set(end);
    if (batch.length > 0) {
      batch.sort((a, b) => a.ts - b.ts || a.seq - b.seq);
      for (let i = 0; i < batch.length; i += APPLY_CHUNK) {
        await target.accept(batch.slice(i, i + APPLY_CHUNK).map((p) => ({ entity: p.entity, json: p.json })));
      }
    }
    clock.set(end + TICK_DELAY_MS);
    for (const f of funnels) await windows.compact(f);
    await lease.tryAcquire();
    const report: TickReport = await evaluator.tick(clock.now());
    if (report.outcome !== 'evaluated') {
      throw new FwError(
        'REPLAY_LEASE',
        `the replay's own lease was not held at ${new Date(clock.now()).toISOString()} (${report.outcome}); ` +
          `is another process using prefix ${prefix}?`,
      );
    }
    for (const t of report.transitions) {
      const notified = t.kind === 'firing' ? (report.placed?.get(alertKey(t.rule, t.segment)) ?? []) : [];
      await opts.out(transitionLine(t, notified));
      s.transitions++;
      const byKind = (s.alerts[t.rule] ??= {});
      byKind[t.kind] = (byKind[t.kind] ?? 0) + 1;
    }
    for (const j of report.jobs ?? []) {
      if (!j.group) continue;
      if (j.group.action === 'trigger') s.pages++;
      await opts.out(notificationLine(j));
      s.notifications++;
    }
    s.virtualFrom ??= start;
    s.virtualTo = end;
    s.virtualMinutes++;
    if (opts.progress && Date.now() - lastProgress >= everyMs) {
      lastProgress = Date.now();
      opts.progress({
        eventsRead: s.eventsRead,
        virtualAt: end,
        minutes: s.virtualMinutes,
        transitions: s.transitions,
        wallMs: Date.now() - wallStart,
      });
    }
  };

  for (const file of opts.events) {
    for await (const line of fileLines(file)) {
      s.linesRead++;
      if (line.trim() === '') {
        s.blankLines++;
        continue;
      }
      s.eventsRead++;
      const r = parseEvent(line, preParse);
      if (!r.ok) {
        count(r.reason);
        continue;
      }
      const ts = r.event.ts;
      if (ts < newestSeen - maxAgeMs) {
        count('too_old');
        continue;
      }
      newestSeen = Math.max(newestSeen, ts);
      if ((opts.from !== undefined && ts < opts.from) || (opts.to !== undefined && ts >= opts.to)) {
        s.outsideRange++;
        continue;
      }
      s.eventsAccepted++;
      const mask = masks.get(r.event.type);
      if (mask === undefined) s.eventsIgnored++;
      else {
        s.eventsToFunnels++;
        for (let i = 0; i < funnels.length; i++) if (mask & funnelBit(i)) linesPerFunnel[i]!++;
      }
      let minute = Math.floor(ts / MIN) * MIN;
      cursor ??= minute;
      if (minute < cursor) {
        s.lateBeyondReorder++;
        minute = cursor;
      }
      let list = byMinute.get(minute);
      if (!list) byMinute.set(minute, (list = []));
      list.push({ ts, seq: seq++, entity: r.event.entity, json: line });
      if (ts > newest) {
        newest = ts;
        while (cursor + MIN + reorderMs <= newest) {
          await processMinute(cursor);
          cursor += MIN;
        }
      }
    }
  }
  if (s.eventsAccepted === 0 || cursor === null) {
    const range =
      opts.from !== undefined || opts.to !== undefined
        ? ` between ${opts.from !== undefined ? new Date(opts.from).toISOString() : 'the start'} ` +
          `and ${opts.to !== undefined ? new Date(opts.to).toISOString() : 'the end'}`
        : '';
    throw new FwError(
      'REPLAY_NO_DATA',
      `no valid events${range}: read ${s.eventsRead}, ` +
        `rejected ${Object.values(rejected).reduce((a, b) => a + b, 0)}, outside the range ${s.outsideRange}`,
    );
  }
  // Drain up to the last event's minute, not on to `to`: minutes without data after the end would read as a stopped
  // feed (data_stale), which says nothing about the recorded history.
  const dataEnd = Math.floor(newest / MIN) * MIN + MIN;
  const last = opts.to !== undefined ? Math.min(Math.ceil(opts.to / MIN) * MIN, dataEnd) : dataEnd;
  while (cursor < last) {
    await processMinute(cursor);
    cursor += MIN;
  }
  await lease.stop().catch(() => undefined);

  const sum = async (
    c: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> },
    pick?: (l: Record<string, unknown>) => boolean,
  ) => (await c.get()).values.filter((v) => !pick || pick(v.labels)).reduce((a, v) => a + v.value, 0);
  s.eventsApplied = await sum(metrics.eventsApplied);
  s.lateDropped = await sum(metrics.eventsLate);
  for (const [i, f] of funnels.entries()) {
    const of = (l: Record<string, unknown>) => l.funnel === f.name;
    const outcome = (o: string) => sum(metrics.windowOutcomes, (l) => of(l) && l.outcome === o);
    const a: FunnelAccount = {
      lines: linesPerFunnel[i]!,
      used: 0,
      entries: await outcome('entry'),
      steps: await outcome('step'),
      noEntry: await outcome('no_entry'),
      expired: await outcome('expired'),
      filtered: await outcome('filtered'),
      duplicate: await outcome('duplicate'),
      late: await sum(metrics.eventsLate, of),
      noEntity: await outcome('no_entity'),
    };
    a.used = a.entries + a.steps + a.noEntry + a.expired;
    s.funnels[f.name] = a;
  }
  s.unusedTypes = core.unmatched.unusedTypes();
  s.unmatched = core.unmatched.totals();
  s.wallMs = Date.now() - wallStart;
  s.speed = s.wallMs > 0 ? s.virtualMinutes / (s.wallMs / MIN) : Infinity;
  return s;
}

/**
 * The end-of-run summary, for stderr. It accounts for every line read: blank, rejected (by reason), outside the
 * range, of a type no funnel uses, or handed to the funnels, where each funnel says what became of its events.
 */
export function formatReplaySummary(s: ReplaySummary): string {
  const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
  const rej = Object.entries(s.rejected).sort(([a], [b]) => a.localeCompare(b));
  const n = (x: number) => x.toLocaleString('en-US');
  const funnelLines = Object.entries(s.funnels).map(
    ([name, a]) =>
      `      ${name}: ${n(a.lines)} = used by a step ${n(a.used)} (entries ${n(a.entries)}, steps ${n(a.steps)}` +
      `${a.noEntry ? `, no entry ${n(a.noEntry)}` : ''}${a.expired ? `, expired ${n(a.expired)}` : ''})` +
      ` + filtered out by a step's where ${n(a.filtered)} + duplicate ${n(a.duplicate)} + late ${n(a.late)}` +
      `${a.noEntity ? ` + no entity ${n(a.noEntity)}` : ''}`,
  );
  const shared = Object.values(s.funnels).reduce((t, a) => t + a.lines, 0) - s.eventsToFunnels;
  const lines = [
    `replay summary`,
    `  lines read       ${n(s.linesRead)}, every one accounted for:`,
    ...(s.blankLines ? [`    blank          ${n(s.blankLines)}`] : []),
    `    rejected       ${n(rej.reduce((a, [, c]) => a + c, 0))}` +
      `${rej.length ? ` (${rej.map(([r, c]) => `${r} ${n(c)}`).join(', ')})` : ''}`,
    ...(s.outsideRange ? [`    outside range  ${n(s.outsideRange)}`] : []),
    `    of no funnel   ${n(s.eventsIgnored)} (valid events of a type no funnel's step uses` +
      `${
        s.unusedTypes?.length
          ? `: ${s.unusedTypes
              .slice(0, 10)
              .map((t) => `${t.type} ${n(t.count)}`)
              .join(', ')}`
          : ''
      })`,
    `    to the funnels ${n(s.eventsToFunnels)}` +
      `${shared > 0 ? ` (${n(shared)} of them in more than one funnel, counted in each below)` : ''}`,
    ...funnelLines,
    ...(s.unmatched ?? []).map((u) => `  unmatched filter ${u.text}`),
    ...(s.lateBeyondReorder
      ? [`  applied late     ${n(s.lateBeyondReorder)} arrived beyond the reorder window (the funnels judged them)`]
      : []),
    ...(s.deploys ? [`  deploy markers   ${s.deploys}`] : []),
    `  virtual span     ${iso(s.virtualFrom)} → ${iso(s.virtualTo)} (${s.virtualMinutes} min)`,
    `  transitions      ${s.transitions}`,
    `  notifications    ${s.notifications} (pages: ${s.pages} incident triggers)`,
    ...Object.entries(s.alerts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(
        ([rule, kinds]) =>
          `    ${rule}: ${Object.entries(kinds)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, c]) => `${k} ${c}`)
            .join(', ')}`,
      ),
    `  wall time        ${(s.wallMs / 1000).toFixed(1)} s`,
    `  speed            ${Number.isFinite(s.speed) ? Math.round(s.speed) : '∞'} virtual minutes per wall minute`,
  ];
  return lines.join('\n');
}
