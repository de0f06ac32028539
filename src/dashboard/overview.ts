/**
 * The overview page's data: every funnel with its steps and last-hour counts, the conversion of its first to last
 * step over the last 24 hours (96 bins of 15 minutes, the sparkline) and now, each rule's state (with the reason
 * when insufficient, and the silence that mutes it), the active incidents, and how fresh the data is.
 */
import type { FunnelDef } from '../funnels/funnel.js';
import type { AlertState } from '../model/alert-state.js';
import type { AlertTransition } from '../model/alert-transition.js';
import { alertLabels, matchingSilence, type Silence } from '../notify/silences.js';
import type { AlertRuleDef } from '../rules/rule.js';
import type { DashboardOptions } from './routes.js';

const HOUR = 3_600_000;
const SPARK_BIN_MS = 15 * 60_000;

/** Dead-letter counter samples of this replica (one list per dashboard), to tell how many arrived in the last hour. */
export type CounterSamples = { at: number; total: number }[];

/** Why a series is not judged, in words: the detector's reason, else the baseline's fallback. */
export function reasonOf(s: AlertState | undefined): string | null {
  if (!s) return 'not evaluated yet (no data for this rule reached the evaluator)';
  return s.evidence?.reason ?? (s.status === 'insufficient' ? 'too little data to judge' : null);
}

export function silencedBy(
  rule: AlertRuleDef,
  s: AlertState | undefined,
  silences: readonly Silence[],
  now: number,
): string | null {
  const labels = alertLabels({
    labels: rule.labels,
    segment: s?.segment ?? null,
    funnel: rule.funnel,
    rule: rule.name,
    severity: rule.severity,
  } as AlertTransition);
  return matchingSilence(labels, silences, now)?.id ?? null;
}

export async function overview(o: DashboardOptions, now: number, deadLetterSamples: CounterSamples) {
  const rs = o.rules();
  const [states, silences] = await Promise.all([o.alerts.load(), o.silences.list()]);
  const byRule = new Map<string, AlertState[]>();
  for (const s of states.values()) byRule.set(s.rule, [...(byRule.get(s.rule) ?? []), s]);
  const funnels = await Promise.all(
    (rs?.funnels ?? []).map(async (f) => {
      const rules = (rs?.rules ?? []).filter((r) => r.funnel === f.name);
      const rows = rules.map((r) => ruleRow(r, byRule, silences, now));
      return { ...(await funnelNumbers(o, f, now)), rules: await Promise.all(rows.map((r) => withWhy(o, r))) };
    }),
  );
  const incidents = [...states.values()]
    .filter((s) => s.status === 'firing' || s.status === 'pending')
    .map((s) => ({
      rule: s.rule,
      segment: s.segment,
      status: s.status,
      since: s.since,
      firedAt: s.firedAt ?? null,
      onset: s.evidence?.onset ?? null,
      relativeChange: s.evidence?.relativeChange ?? null,
      incidentId: s.incidentId ?? null,
      summary: s.context?.drilldown?.summary ?? null,
    }))
    .sort((a, b) => (a.status === b.status ? a.since - b.since : a.status === 'firing' ? -1 : 1));
  return {
    now,
    ruleSetVersion: rs?.version ?? null,
    funnels,
    incidents,
    freshness: await freshness(o, now, deadLetterSamples),
  };
}

type RuleRow = ReturnType<typeof ruleRow>;

/**
 * A rule not ok gets the top reason of its explain report (the funnel-wide series, else the first series that is
 * not ok): "too little traffic: needs 200 started …", "seasonal baseline has 1 of 4 week(s) …", the breach. The
 * alert state's own reason stays when the report is not available.
 */
async function withWhy(o: DashboardOptions, row: RuleRow): Promise<RuleRow> {
  if (row.badge === 'ok' || !o.explain) return row;
  const e = await o.explain(row.name).catch(() => undefined);
  const series = e?.series ?? [];
  const s =
    series.find((x) => x.segment === null && x.condition !== 'ok') ??
    series.find((x) => x.condition !== 'ok') ??
    series.find((x) => x.segment === null);
  return s ? { ...row, reason: s.summary } : row;
}

function ruleRow(r: AlertRuleDef, byRule: Map<string, AlertState[]>, silences: readonly Silence[], now: number) {
  const all = byRule.get(r.name) ?? [];
  const wide = all.find((s) => s.segment === null);
  const count = (st: string) => all.filter((s) => s.segment !== null && s.status === st).length;
  const firingSeg = all.find((s) => s.segment !== null && s.status === 'firing');
  const silence = silencedBy(r, wide, silences, now);
  return {
    name: r.name,
    metric: r.metric.kind,
    status: wide?.status ?? 'unknown',
    /** ok / pending / firing / insufficient / silenced: what the overview's badge says. */
    badge: silence && wide?.status === 'firing' ? 'silenced' : badge(wide?.status, firingSeg !== undefined),
    since: wide?.since ?? null,
    reason: wide?.status === 'insufficient' || !wide ? reasonOf(wide) : null,
    fallback: wide?.evidence?.baseline?.fallback ?? null,
    silencedBy: silence,
    observedRate: finite(wide?.evidence?.observedRate),
    expectedRate: finite(wide?.evidence?.expectedRate),
    segments: { firing: count('firing'), pending: count('pending'), insufficient: count('insufficient') },
  };
}

function badge(status: string | undefined, segmentFiring: boolean): string {
  if (status === 'firing' || segmentFiring) return 'firing';
  if (status === 'pending') return 'pending';
  if (status === 'insufficient' || status === undefined) return 'insufficient';
  return 'ok';
}

const finite = (x: number | undefined | null) => (typeof x === 'number' && Number.isFinite(x) ? x : null);

async function funnelNumbers(o: DashboardOptions, f: FunnelDef, now: number) {
  const wms = [...(await o.windows.getWatermarks(f)).values()];
  const watermark = wms.length > 0 ? Math.max(...wms) : null;
  const to = Math.floor((watermark ?? now) / f.bucketMs) * f.bucketMs + f.bucketMs;
  const from = to - 24 * HOUR;
  const [hour, day] = await Promise.all([
    o.windows.stepTotals({ funnel: f, from: to - HOUR, to }),
    o.windows.bucketCounts({ funnel: f, from, to, resolution: 'fine' }),
  ]);
  const last = f.steps.length - 1;
  const t: number[] = [];
  const rate: (number | null)[] = [];
  for (let s = from; s < to; s += SPARK_BIN_MS) {
    let a = 0,
      z = 0;
    for (const b of day.buckets) {
      if (b.start < s || b.start >= s + SPARK_BIN_MS) continue;
      a += b.volume[0] ?? 0;
      z += b.volume[last] ?? 0;
    }
    t.push(s);
    rate.push(a > 0 ? Math.min(1, z / a) : null);
  }
  const first = hour.volume[0] ?? 0;
  return {
    name: f.name,
    steps: f.steps.map((s, i) => ({ name: s.name, lastHour: hour.volume[i] ?? 0 })),
    conversionLastHour: first > 0 ? Math.min(1, (hour.volume[last] ?? 0) / first) : null,
    sparkline: { t, rate },
    watermark,
    watermarkAgeSeconds: watermark === null ? null : Math.max(0, Math.round((now - watermark) / 1000)),
  };
}

async function freshness(o: DashboardOptions, now: number, deadLetterSamples: CounterSamples) {
  const lag = (await o.metrics.consumerLag.get()).values.map((v) => ({ ...v.labels, lag: v.value }));
  const total = (await o.metrics.eventsRejected.get()).values.reduce((a, v) => a + v.value, 0);
  deadLetterSamples.push({ at: now, total });
  while (deadLetterSamples.length > 1 && deadLetterSamples[1]!.at <= now - HOUR) deadLetterSamples.shift();
  const base = deadLetterSamples[0]!;
  return {
    consumerLag: lag,
    /** Steps whose `where` filter turns away (almost) all their events, on this replica (ingest/unmatched.ts). */
    unmatched: [...(o.unmatched?.(now) ?? [])],
    deadLetters: {
      count: total - base.total,
      since: base.at === now ? null : base.at,
      total,
      note: 'counted by this replica since it started serving the dashboard',
    },
  };
}
