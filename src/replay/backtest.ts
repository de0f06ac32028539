/**
 * `funnelwatch backtest`: one rule (the live one, or an edited copy from a file) evaluated minute by minute over the
 * history already in Redis, to see when it would have fired and resolved and how often it would have paged.
 *
 * Read-only for the live data. The Evaluator gets the live window store only through a FunnelSource (watermark and
 * bucket reads, both reads), and the live deploy markers only through `between` (a read); the alert states, the
 * delivery jobs the planner queues, the lease and the completeness curves go to a private prefix on the same Redis
 * (`fw-backtest-<random>`), deleted at the end. Nothing under the live `{alerts}` keys is touched.
 *
 * Virtual time: at each minute the funnel's watermark is taken as min(live watermark, minute end − 1 ms), so each
 * look sees the buckets that ended by then, as the daemon would have.
 *
 * Known difference from live: history buckets are final. A cohort bucket read at virtual minute t already holds
 * conversions that happened after t, so cohort_conversion rules see young cohorts more complete than they were
 * (earlier, cleaner signal on drops that began in those cohorts). Ratio, volume and duration rules count each event
 * in its own bucket and are unaffected. And only what the funnel's retention still holds can be replayed: fine
 * buckets (retention.fine, default 3 d) bound how far back the evaluator has its minute data.
 */
import { randomBytes } from 'node:crypto';
import { parseDocument, isMap, isSeq } from 'yaml';
import { createRedisClient } from '../redis/client.js';
import { ManualClock } from '../core/clock.js';
import { FwError, errorMessage } from '../core/errors.js';
import type { FunnelDef } from '../funnels/funnel.js';
import { createLogger, type Logger } from '../obs/logger.js';
import { checkRuleSources, readRuleSources, type RuleSource } from '../rules/loader.js';
import { formatProblem, compareProblems } from '../rules/problem.js';
import type { RuleSet } from '../rules/rule-set.js';
import { didYouMeanSuffix } from '../rules/did-you-mean.js';
import { RedisWindowStore } from '../windows/redis-window-store.js';
import { StoreFunnelSource, type FunnelNeeds, type FunnelSource } from '../engine/funnel-data.js';
import type { AlertTransition } from '../model/alert-transition.js';
import { alertKey } from '../model/alert-key.js';
import { RedisDeployStore } from '../deploys/deploy-store.js';
import { Metrics } from '../obs/metrics.js';
import { buildCore, defaultCoreSettings } from '../app/build-core.js';
import { deletePrefix, TICK_DELAY_MS, transitionLine } from './replay.js';

const MIN = 60_000;
const WEEK = 7 * 86_400_000;

export interface BacktestOptions {
  redisUrl: string;
  /** `redisUrl` is a Redis Cluster (FW_REDIS_CLUSTER). */
  redisCluster?: boolean;
  /** The live prefix (FW_REDIS_PREFIX): read, never written. */
  prefix: string;
  rulesDir: string;
  rule: string;
  /** A file holding an edited version of the rule (and possibly its whole funnel file). */
  ruleFile?: string;
  /** How far back from now to start (ms). */
  sinceMs: number;
  /** The environment the live daemon watches (FW_ENVIRONMENT; default production, '' every one alike): deploys to
   *  others rank lower. */
  environment?: string;
  now?: number;
  /** Human-readable lines (fired, resolved, the totals). */
  out: (line: string) => void;
  /** One JSON line per transition, as replay writes them (optional). */
  jsonl?: (line: string) => void;
  progress?: (p: { virtualAt: number; minutes: number; totalMinutes: number }) => void;
  logger?: Logger;
}

export interface BacktestIncident {
  segment: string | null;
  firedAt: number;
  onset: number | null;
  resolvedAt: number | null;
  relativeChange: number | null;
}

export interface BacktestResult {
  rule: string;
  from: number;
  to: number;
  minutes: number;
  /** Set when `since` reached further back than the fine retention holds. */
  clampedFrom?: number;
  /** The first minute of [from, to) with events: the scan starts there. */
  dataFrom: number;
  /** Minutes of [from, to) with events. */
  dataMinutes: number;
  incidents: BacktestIncident[];
  pages: number;
  pagesPerWeek: number;
}

/**
 * The rule set of `dir` with the rules of `overrideFile` replacing live ones of the same name. A funnel the file
 * defines replaces the dir's file of that funnel entirely (the file is then an edited copy of it).
 */
export async function loadWithOverride(dir: string, overrideFile: string | undefined): Promise<RuleSet> {
  const live = await readRuleSources([dir]);
  const over = overrideFile ? await readRuleSources([overrideFile]) : { sources: [], problems: [] };
  const ioProblems = [...live.problems, ...over.problems];
  if (ioProblems.length > 0) throw rulesError(ioProblems.sort(compareProblems).map(formatProblem));
  let sources: RuleSource[] = live.sources;
  if (over.sources.length > 0) {
    const odoc = parseDocument(over.sources[0]!.text).toJS() as {
      funnel?: { name?: unknown };
      rules?: { name?: unknown }[];
    } | null;
    const funnelName = typeof odoc?.funnel?.name === 'string' ? odoc.funnel.name : undefined;
    const names = new Set(
      (Array.isArray(odoc?.rules) ? odoc.rules : [])
        .map((r) => r?.name)
        .filter((n): n is string => typeof n === 'string'),
    );
    sources = [];
    for (const src of live.sources) {
      const doc = parseDocument(src.text);
      const f = doc.get('funnel');
      if (funnelName !== undefined && isMap(f) && f.get('name') === funnelName) continue;
      const rules = doc.get('rules');
      if (isSeq(rules)) {
        const before = rules.items.length;
        rules.items = rules.items.filter((it) => !(isMap(it) && names.has(String(it.get('name')))));
        if (rules.items.length !== before) {
          sources.push({ path: src.path, text: doc.toString() });
          continue;
        }
      }
      sources.push(src);
    }
    sources.push(over.sources[0]!);
  }
  const res = checkRuleSources(sources, { requireReceivers: false });
  if (!res.ok) throw rulesError(res.problems.map(formatProblem));
  return res.ruleSet;
}

function rulesError(lines: string[]): FwError {
  return new FwError('RULES_INVALID', `the rules are invalid:\n${lines.map((l) => `  ${l}`).join('\n')}`);
}

/** The live windows as seen at a virtual minute: the watermark held back to it, the reads unchanged. */
class AsOfSource implements FunnelSource {
  asOf = 0;
  private readonly inner: StoreFunnelSource;
  constructor(
    store: RedisWindowStore,
    private readonly liveWatermark: number,
  ) {
    this.inner = new StoreFunnelSource(store);
  }
  async watermark(): Promise<number | undefined> {
    return Math.min(this.liveWatermark, this.asOf);
  }
  reader(funnel: FunnelDef, evalTo: number, needs: FunnelNeeds) {
    return this.inner.reader(funnel, evalTo, needs);
  }
}

export async function runBacktest(opts: BacktestOptions): Promise<BacktestResult> {
  const ruleSet = await loadWithOverride(opts.rulesDir, opts.ruleFile);
  const rule = ruleSet.rules.find((r) => r.name === opts.rule);
  if (!rule) {
    throw new FwError(
      'UNKNOWN_RULE',
      `no rule "${opts.rule}" in ${opts.rulesDir}${opts.ruleFile ? ` or ${opts.ruleFile}` : ''}` +
        `${didYouMeanSuffix(
          opts.rule,
          ruleSet.rules.map((r) => r.name),
        )}; rules: ${ruleSet.rules.map((r) => r.name).join(', ') || '(none)'}`,
    );
  }
  const funnel = ruleSet.funnels.find((f) => f.name === rule.funnel)!;
  const one: RuleSet = { ...ruleSet, funnels: [funnel], rules: [rule] };
  const logger = opts.logger ?? createLogger({ level: 'warn', pretty: false, destination: process.stderr });
  const now = opts.now ?? Date.now();

  const redis = createRedisClient({ url: opts.redisUrl, cluster: opts.redisCluster === true, maxRetriesPerRequest: 3 });
  await redis.connect().catch((err: unknown) => {
    redis.disconnect();
    throw new FwError('BACKTEST_REDIS', `cannot connect to Redis at ${opts.redisUrl}: ${errorMessage(err)}`, {
      cause: err,
    });
  });
  const priv = `fw-backtest-${randomBytes(5).toString('hex')}`;
  try {
    const live = new RedisWindowStore({ redis, prefix: opts.prefix });
    const wms = [...(await live.getWatermarks(funnel)).values()];
    if (wms.length === 0)
      throw new FwError(
        'BACKTEST_NO_DATA',
        `no data for funnel ${funnel.name} ` +
          `under prefix "${opts.prefix}" at ${opts.redisUrl}: is FW_REDIS_PREFIX right?`,
      );
    const liveWm = Math.max(...wms);
    const wanted = Math.floor((now - opts.sinceMs) / MIN) * MIN;
    const kept = Math.floor((liveWm - funnel.retention.fineMs) / MIN) * MIN;
    const from = Math.max(wanted, kept);
    const to = Math.floor(Math.min(now, liveWm) / MIN) * MIN + MIN;
    if (from >= to) {
      throw new FwError(
        'BACKTEST_NO_DATA',
        `no history of ${funnel.name} since ${new Date(wanted).toISOString()} ` +
          `(newest event ${new Date(liveWm).toISOString()})`,
      );
    }

    // Where the history has data: the evaluator is not run over minutes nothing was recorded in (a nearly empty
    // range used to take minutes to say "0 pages"), and the answer says how much of the range had data.
    const coverage = await dataCoverage(live, funnel, from, to);
    if (coverage.first === null) {
      throw new FwError(
        'BACKTEST_NO_DATA',
        `no events of ${funnel.name} between ${new Date(from).toISOString()} and ${new Date(to).toISOString()} ` +
          `under prefix "${opts.prefix}" (newest event ${new Date(liveWm).toISOString()})`,
      );
    }
    const scanFrom = coverage.first;
    const clock = new ManualClock(scanFrom);
    const source = new AsOfSource(live, liveWm);
    const liveDeploys = new RedisDeployStore({ redis, prefix: opts.prefix, clock: () => clock.now(), logger });
    // The daemon's core with its default settings; its own state (alerts, jobs, lease, curves) under the private
    // prefix, the live windows and deploy markers only read.
    const { lease, evaluator } = buildCore({
      redis,
      prefix: priv,
      settings: defaultCoreSettings(opts.environment !== undefined ? { FW_ENVIRONMENT: opts.environment } : {}),
      clock,
      logger,
      metrics: new Metrics({ defaultMetrics: false }),
      rules: () => one,
      funnels: () => one.funnels,
      notifier: { notify: async () => {} },
      lease: { owner: 'backtest', ttlMs: 10 * MIN },
      funnelSource: source,
      deployMarkers: { between: (a, b) => liveDeploys.between(a, b) },
    });
    opts.out(
      `backtest of ${rule.name} (${funnel.name}) from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}`,
    );
    const askedMin = (to - from) / MIN;
    opts.out(
      `  data: ${coverage.minutes} of its ${askedMin} minutes hold events ` +
        `(${((100 * coverage.minutes) / askedMin).toFixed(coverage.minutes < askedMin / 10 ? 1 : 0)} %), ` +
        `the first at ${new Date(scanFrom).toISOString()}` +
        `${scanFrom > from ? `; the ${fmtSpan(scanFrom - from)} before it hold none and are not scanned` : ''}` +
        `${coverage.gapMinutes > 0 ? `; ${fmtSpan(coverage.gapMinutes * MIN)} in gaps of over 4 h are skipped` : ''}`,
    );
    if (from > wanted) {
      opts.out(
        `  note: fine buckets are kept ${Math.round(funnel.retention.fineMs / 3_600_000)} h ` +
          `(retention.fine), so the backtest starts at ` +
          `${new Date(from).toISOString()}; baselines fill in over its first hours`,
      );
    }

    const open = new Map<string, BacktestIncident>();
    const incidents: BacktestIncident[] = [];
    const total = (to - scanFrom) / MIN - coverage.gapMinutes;
    let minutes = 0;
    let lastProgress = Date.now();

    for (let m = scanFrom; m < to; m += MIN) {
      if (coverage.skip(m)) continue;
      source.asOf = m + MIN - 1;
      clock.set(m + MIN + TICK_DELAY_MS);
      await lease.tryAcquire();
      const report = await evaluator.tick(clock.now());
      if (report.outcome !== 'evaluated')
        throw new FwError('BACKTEST_LEASE', `the backtest's own lease was not held (${report.outcome})`);
      for (const t of report.transitions) {
        // A firing the delivery planner held back at every receiver (inhibition, silences) is not a page.
        const paged = t.kind !== 'firing' || (report.placed?.get(alertKey(t.rule, t.segment))?.length ?? 0) > 0;
        record(t, paged);
      }
      minutes++;
      if (opts.progress && Date.now() - lastProgress >= 5_000) {
        lastProgress = Date.now();
        opts.progress({ virtualAt: m + MIN, minutes, totalMinutes: total });
      }
    }
    await lease.stop().catch(() => undefined);

    function record(t: AlertTransition, paged: boolean): void {
      opts.jsonl?.(transitionLine(t));
      if (t.evidence?.guard) return;
      const seg = t.segment ? `${t.segment.dimension}=${t.segment.value}` : null;
      const key = seg ?? '';
      const when = new Date(t.at).toISOString();
      const e = t.evidence;
      if (t.kind === 'firing') {
        const inc: BacktestIncident = {
          segment: seg,
          firedAt: t.at,
          onset: e?.onset ?? null,
          resolvedAt: null,
          relativeChange: e?.relativeChange ?? null,
        };
        open.set(key, inc);
        if (paged) incidents.push(inc);
        const change = e && Number.isFinite(e.relativeChange) ? ` ${(e.relativeChange * 100).toFixed(0)}%` : '';
        opts.out(
          `  fired     ${when}  ${seg ?? '(all)'}${change}` +
            `${e ? `  observed ${fmt(e.observedRate)} expected ${fmt(e.expectedRate)} volume ${e.volume}` : ''}` +
            `${e?.onset ? `  onset ${new Date(e.onset).toISOString()}` : ''}` +
            `${paged ? '' : `  (no page: ${t.context?.drilldown?.summary ?? 'held back'})`}`,
        );
      } else if (t.kind === 'resolved') {
        const inc = open.get(key);
        if (inc) {
          inc.resolvedAt = t.at;
          open.delete(key);
        }
        opts.out(
          `  resolved  ${when}  ${seg ?? '(all)'}${inc ? `  after ${Math.round((t.at - inc.firedAt) / MIN)} min` : ''}`,
        );
      }
    }

    const pages = incidents.length;
    // Per week of the span that has data: the empty hours before it would dilute the figure.
    const span = to - scanFrom - coverage.gapMinutes * MIN;
    const pagesPerWeek = pages / (span / WEEK);
    opts.out(
      `  ${pages} page${pages === 1 ? '' : 's'} in ${fmtSpan(span)}: ${pagesPerWeek.toFixed(1)} per week` +
        `${open.size ? ` (${open.size} still firing at the end)` : ''}`,
    );
    return {
      rule: rule.name,
      from,
      to,
      minutes,
      dataFrom: scanFrom,
      dataMinutes: coverage.minutes,
      ...(from > wanted ? { clampedFrom: from } : {}),
      incidents,
      pages,
      pagesPerWeek,
    };
  } finally {
    await deletePrefix(redis, priv).catch((err: unknown) =>
      logger.warn({ prefix: priv, err: errorMessage(err) }, 'could not delete the backtest keys'),
    );
    redis.disconnect();
  }
}

/** A gap longer than the detector's longest window: a look inside it sees no data at all. */
const GAP_SKIP_MIN = 240;

/**
 * Which minutes of [from, to) hold events (any step's volume, from the fine buckets), the first of them, and which
 * minutes to skip: those more than GAP_SKIP_MIN after the last minute with events (nothing a look reads has data).
 */
async function dataCoverage(
  store: RedisWindowStore,
  funnel: FunnelDef,
  from: number,
  to: number,
): Promise<{ first: number | null; minutes: number; gapMinutes: number; skip: (m: number) => boolean }> {
  const { buckets } = await store.bucketCounts({ funnel, from, to, resolution: 'fine' });
  const withData = buckets.filter((b) => b.volume.some((v) => v > 0)).map((b) => b.start);
  const skipped = new Set<number>();
  for (let i = 1; i < withData.length; i++) {
    for (let m = withData[i - 1]! + (GAP_SKIP_MIN + 1) * MIN; m < withData[i]!; m += MIN) skipped.add(m);
  }
  const last = withData[withData.length - 1];
  if (last !== undefined) for (let m = last + (GAP_SKIP_MIN + 1) * MIN; m < to; m += MIN) skipped.add(m);
  return {
    first: withData[0] ?? null,
    minutes: withData.length,
    gapMinutes: skipped.size,
    skip: (m) => skipped.has(m),
  };
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : '-';
}

function fmtSpan(ms: number): string {
  const h = ms / 3_600_000;
  return h >= 48 ? `${(h / 24).toFixed(1)} days` : `${h.toFixed(1)} h`;
}
