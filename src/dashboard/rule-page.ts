/**
 * The rule page's data: the rule, one of its series (funnel-wide, or `segment=dimension=value`) as chart points
 * over 6 h, 24 h or 7 d (series.ts), the alert spans and onsets of that series from the recorded transitions,
 * the deploys in the span, the series' state with its evidence and the incident's drill-down, every other series
 * of the rule with its state (each a click away), and the "why" rows: for each series that is not judged or not
 * judged as asked, the reason the evaluator recorded.
 */
import { FwError } from '../core/errors.js';
import { parseTime } from '../core/time-parse.js';
import { alertKey } from '../model/alert-key.js';
import type { AlertState } from '../model/alert-state.js';
import type { SegmentRef } from '../model/segment.js';
import type { Silence } from '../notify/silences.js';
import type { AlertRuleDef } from '../rules/rule.js';
import { loadSeriesReader, seriesPoints } from './series.js';
import { reasonOf, silencedBy } from './overview.js';
import type { DashboardOptions } from './routes.js';

const HOUR = 3_600_000;
export const SPANS = { '6h': 6 * HOUR, '24h': 24 * HOUR, '7d': 7 * 24 * HOUR } as const;
/** Transitions read for the spans (the alert stream keeps the newest). */
const TRANSITIONS = 1000;

export function parseSegment(text: string | null): SegmentRef | null {
  if (text === null || text === '') return null;
  const i = text.indexOf('=');
  if (i <= 0) throw new FwError('BAD_REQUEST', `segment: dimension=value; got ${JSON.stringify(text)}`);
  return { dimension: text.slice(0, i), value: text.slice(i + 1) };
}

export async function rulePage(
  o: DashboardOptions,
  name: string,
  segmentText: string | null,
  span: keyof typeof SPANS,
  toText: string | undefined,
) {
  const rs = o.rules();
  const rule = rs?.rules.find((r) => r.name === name);
  if (!rs || !rule) {
    const known = (rs?.rules ?? []).map((r) => r.name).join(', ');
    throw new FwError('NOT_FOUND', `no rule ${JSON.stringify(name)}${known ? ` (rules: ${known})` : ''}`);
  }
  const funnel = rs.funnels.find((f) => f.name === rule.funnel)!;
  const seg = parseSegment(segmentText);
  if (seg && !rule.segments.includes(seg.dimension)) {
    throw new FwError(
      'BAD_REQUEST',
      `segment: rule ${name} is segmented by ${rule.segments.join(', ') || 'nothing'}, not ${seg.dimension}`,
    );
  }
  const now = o.clock.now();
  const b = funnel.bucketMs;
  let to: number;
  if (toText !== undefined) {
    const t = parseTime(/^\d+$/.test(toText) ? Number(toText) : toText);
    if (!t.ok) throw new FwError('BAD_REQUEST', `to: ${t.message}`);
    to = Math.floor(t.ms / b) * b;
  } else {
    // Up to now, so an alert firing now shows its span, unless the data stopped long ago (a replay, an outage):
    // then up to the data, so the chart is not an empty stretch.
    const wms = [...(await o.windows.getWatermarks(funnel)).values()];
    const wm = wms.length > 0 ? Math.max(...wms) : now;
    to = Math.ceil((now - wm <= SPANS[span] / 4 ? now : wm + 1) / b) * b;
  }
  const from = to - SPANS[span];
  const started = performance.now();
  const [reader, states, transitions, deploys, silences] = await Promise.all([
    loadSeriesReader(o.windows, rule, funnel, from, to, seg),
    o.alerts.load(),
    o.alerts.recentTransitions(TRANSITIONS),
    o.deploys.between(from, to),
    o.silences.list(),
  ]);
  const series = seriesPoints(rule, funnel, reader, seg, from, to);
  const key = alertKey(rule.name, seg);
  const mine = transitions.filter((t) => alertKey(t.rule, t.segment) === key);
  const spans: { from: number; to: number | null; onset: number | null; incidentId: string | null }[] = [];
  for (const t of mine) {
    if (t.kind === 'firing') {
      spans.push({ from: t.at, to: null, onset: t.evidence?.onset ?? null, incidentId: t.incidentId ?? null });
    } else if (t.kind === 'resolved' && spans.length > 0 && spans[spans.length - 1]!.to === null) {
      spans[spans.length - 1]!.to = t.at;
    }
  }
  const state = states.get(key);
  if (state?.firedAt !== undefined && !spans.some((s) => s.from === state.firedAt)) {
    // Older than the transitions kept: the state still knows when it fired.
    spans.unshift({
      from: state.firedAt,
      to: state.resolvedAt ?? null,
      onset: state.peak?.onset ?? state.evidence?.onset ?? null,
      incidentId: state.incidentId ?? null,
    });
  }
  const ruleStates = [...states.values()].filter((s) => s.rule === rule.name);
  return {
    rule: {
      name: rule.name,
      funnel: rule.funnel,
      description: rule.description ?? null,
      metric: rule.metric,
      direction: rule.direction,
      minChange: rule.minChange,
      minVolume: rule.minVolume,
      baseline: rule.baseline,
      segments: rule.segments,
      where: rule.where ?? null,
      source: rule.source,
    },
    segment: seg,
    span,
    series,
    spans: spans.filter((s) => (s.to ?? Infinity) >= from && s.from <= to),
    deploys,
    state: state ? stateView(state, rule, silences, now) : null,
    drilldown: state?.context?.drilldown ?? null,
    suspects: state?.context?.deploys ?? [],
    series_states: ruleStates
      .map((s) => ({
        segment: s.segment,
        status: s.status,
        relativeChange: s.evidence?.relativeChange ?? null,
        volume: s.evidence?.volume ?? null,
        reason: s.status === 'insufficient' ? reasonOf(s) : null,
      }))
      .sort((a, b) => (a.segment === null ? -1 : b.segment === null ? 1 : (b.volume ?? 0) - (a.volume ?? 0))),
    why: whyRows(ruleStates),
    serverMs: Math.round(performance.now() - started),
  };
}

function stateView(s: AlertState, rule: AlertRuleDef, silences: readonly Silence[], now: number) {
  return {
    status: s.status,
    since: s.since,
    firedAt: s.firedAt ?? null,
    resolvedAt: s.resolvedAt ?? null,
    incidentId: s.incidentId ?? null,
    evidence: s.evidence ?? null,
    silencedBy: silencedBy(rule, s, silences, now),
  };
}

/**
 * Why the rule's series are quiet, from what the alert states carry: the detector's reason when a series is
 * insufficient, the baseline's fallback when a seasonal rule judges against a trailing baseline. The page shows
 * the explain report (GET /v1/rules/<name>/explain) instead; these rows are its fallback when that is unavailable.
 */
export function whyRows(states: readonly AlertState[]) {
  const out: { segment: SegmentRef | null; status: string; reason: string; kind: 'insufficient' | 'fallback' }[] = [];
  for (const s of states) {
    if (s.status === 'insufficient') {
      out.push({ segment: s.segment, status: s.status, reason: reasonOf(s) ?? '', kind: 'insufficient' });
    }
    const fb = s.evidence?.baseline?.fallback;
    if (fb) out.push({ segment: s.segment, status: s.status, reason: fb, kind: 'fallback' });
  }
  return out.sort((a, b) => Number(a.segment !== null) - Number(b.segment !== null));
}
