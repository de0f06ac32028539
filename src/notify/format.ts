/**
 * Pure text helpers shared by the receivers (Slack, PagerDuty, webhooks): the one-line headline of an alert, numbers
 * with fixed en-US grouping, UTC times and windows (durations and truncation on code points: core/text.ts). Every
 * function is total: evidence comes from JSON (NaN and Infinity arrive as null) and from older releases, and a
 * formatter that throws would lose a page, so odd input yields "?" or an omitted part, never an exception.
 */
import type { AlertTransition } from '../model/alert-transition.js';
import type { Evidence } from '../model/evidence.js';
import type { GateNotice } from '../model/gate-notice.js';
import type { SegmentRef } from '../model/segment.js';
import type { GroupMember, GroupNotice } from './receiver.js';

function finite(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/** 1234567 → "1,234,567"; fixed en-US grouping so messages do not depend on the host's locale; "?" if not a number. */
export function formatCount(n: number | null | undefined): string {
  if (!finite(n)) return '?';
  const s = String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 && s !== '0' ? `−${s}` : s;
}

/** 0.4123 → "41.2%"; "?" if not a number. */
export function formatPercent(rate: number | null | undefined): string {
  return finite(rate) ? `${(rate * 100).toFixed(1)}%` : '?';
}

/** A signed relative change with a true minus sign: "−31%", "+12%", "−0.4%", "±0%"; "" if not a number. */
export function formatSignedChange(change: number | null | undefined): string {
  if (!finite(change)) return '';
  const p = Math.abs(change) * 100;
  const body = p >= 10 ? p.toFixed(0) : p.toFixed(1);
  if (body === '0' || body === '0.0') return '±0%';
  return `${change < 0 ? '−' : '+'}${body}%`;
}

/** A Date-representable time (ms) as ISO text, or null (a formatter must never throw on odd evidence). */
export function isoOrNull(ms: number | null | undefined): string | null {
  return finite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : null;
}

/** "2024-05-01 12:03 UTC"; "?" for what is not a valid time. */
export function formatUtc(ms: number | null | undefined): string {
  const iso = isoOrNull(ms);
  return iso === null ? '?' : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** "12:03 UTC", with the date in front when `ms` is not on the same UTC day as `ref`. */
export function formatClock(ms: number | null | undefined, ref: number | null | undefined): string {
  const iso = isoOrNull(ms);
  if (iso === null) return '?';
  const hm = `${iso.slice(11, 16)} UTC`;
  return iso.slice(0, 10) === isoOrNull(ref)?.slice(0, 10) ? hm : `${iso.slice(0, 10)} ${hm}`;
}

/** A window length in minutes as "15 min", "1 h", "7 d"; "" when absent. */
export function formatWindow(minutes: number | null | undefined): string {
  if (!finite(minutes) || !(minutes > 0)) return '';
  if (minutes % 1440 === 0) return `${minutes / 1440} d`;
  if (minutes % 60 === 0) return `${minutes / 60} h`;
  return `${Math.round(minutes)} min`;
}

/** "payment_provider=stripe", or "" for the whole funnel. */
export function segmentText(segment: SegmentRef | null | undefined): string {
  return segment ? `${segment.dimension}=${segment.value}` : '';
}

/**
 * What was counted: the funnel's entries as a noun (funnel names are nouns by convention: checkout → "1,234
 * checkouts"), or, for a rule measured from a later step, the arrivals there ("1,234 reached payment").
 */
export function formatUnits(n: number | null | undefined, funnel: string, countedFrom?: string): string {
  if (countedFrom) return `${formatCount(n)} reached ${countedFrom}`;
  const noun = funnel === '' ? 'events' : /s$/.test(funnel) ? funnel : `${funnel}s`;
  return `${formatCount(n)} ${noun}`;
}

/**
 * The observed-vs-expected change, signed by direction (observed/expected − 1), not by `relativeChange`, which
 * detectors sign by the rule's bad direction. Rates when usable (counts first for volume rules, whose rates are
 * per-minute figures), else the other; NaN when neither is.
 */
export function observedChange(e: Evidence | undefined, metric?: AlertTransition['metric']): number {
  if (!e) return NaN;
  const byRate =
    finite(e.observedRate) && finite(e.expectedRate) && e.expectedRate > 0 ? e.observedRate / e.expectedRate - 1 : NaN;
  const byCount = finite(e.observed) && finite(e.expected) && e.expected > 0 ? e.observed / e.expected - 1 : NaN;
  if (metric === 'step_volume') return Number.isFinite(byCount) ? byCount : byRate;
  return Number.isFinite(byRate) ? byRate : byCount;
}

/**
 * What changed, for the rule's metric: "conversion 41.2% vs expected 60.1% (−31%)", "volume 812 vs expected 1,190
 * (−32%)", "slow share 18.0% vs expected 5.0% (+260%)"; "" when the evidence has no usable numbers.
 */
export function comparisonText(metric: AlertTransition['metric'], e: Evidence | undefined): string {
  if (!e) return '';
  const byRate = finite(e.observedRate) && finite(e.expectedRate) && e.expectedRate > 0;
  const byCount = finite(e.observed) && finite(e.expected) && e.expected > 0;
  const change = observedChange(e, metric);
  const paren = finite(change) ? ` (${formatSignedChange(change)})` : '';
  switch (metric) {
    case 'step_volume':
      return byCount ? `volume ${formatCount(e.observed)} vs expected ${formatCount(e.expected)}${paren}` : '';
    case 'step_duration':
      return byRate
        ? `slow share ${formatPercent(e.observedRate)} vs expected ${formatPercent(e.expectedRate)}${paren}`
        : '';
    default:
      if (byRate)
        return `conversion ${formatPercent(e.observedRate)} vs expected ${formatPercent(e.expectedRate)}${paren}`;
      return byCount ? `${formatCount(e.observed)} vs expected ${formatCount(e.expected)}${paren}` : '';
  }
}

/**
 * One line naming the alert: rule, what changed (observed vs expected, signed relative change) and the segment,
 * e.g. "checkout-completion-drop: conversion 41.2% vs expected 60.1% (−31%) [payment_provider=stripe]". Without
 * usable evidence the guard or reason stands in, else just the rule. Raw text: callers escape it for their format.
 */
export function headline(alert: AlertTransition): string {
  const e = alert.evidence;
  const what = comparisonText(alert.metric, e) || (e?.guard ? e.guard.replace('_', ' ') : '') || (e?.reason ?? '');
  const seg = segmentText(alert.segment);
  const one = `${alert.rule}${what ? `: ${what}` : ''}${seg ? ` [${seg}]` : ''}`;
  // Labels and reasons are free text: a newline would break a one-line summary field.
  return one.replace(/[\r\n\t]+/g, ' ');
}

/**
 * A dashboard link template with `{funnel}`, `{rule}` and `{segment}` filled in (URL-encoded; `{segment}` is
 * "dimension=value" or empty), the convention of the rule schema's `dashboard_url`.
 */
export function fillDashboardUrl(
  template: string,
  alert: Pick<AlertTransition, 'funnel' | 'rule' | 'segment'>,
): string {
  const values: Record<string, string> = {
    funnel: alert.funnel,
    rule: alert.rule,
    segment: segmentText(alert.segment),
  };
  return template.replace(/\{(funnel|rule|segment)\}/g, (_m, k: string) => encodeURIComponent(values[k] ?? ''));
}

/**
 * When the incident began firing (ms), read from its id: alert-state.ts makes incident ids
 * `${alertKey}@${firedAt}`. undefined when the id is absent or not of that shape.
 */
export function incidentStart(alert: Pick<AlertTransition, 'incidentId'>): number | undefined {
  const m = /@(\d{1,16})$/.exec(alert.incidentId ?? '');
  const ms = m ? Number(m[1]) : NaN;
  return isoOrNull(ms) === null ? undefined : ms;
}

/**
 * A canary gate's decision on one line: "GATE FAIL checkout-canary: app_version 5.3.0 vs 5.2.0: 41.0% vs 60.3%
 * (−32%, interval −40% … −25%): <explanation>".
 */
export function formatGateLine(g: GateNotice): string {
  const e = g.effect;
  const interval =
    finite(e.lower) && finite(e.upper)
      ? `, ${Math.round(e.level * 100)}% interval ${formatSignedChange(e.lower)} … ${formatSignedChange(e.upper)}`
      : '';
  const change = finite(e.estimate) ? ` (${formatSignedChange(e.estimate)}${interval})` : '';
  return (
    `GATE ${g.verdict.toUpperCase()} ${g.gate}: ${g.splitBy} ${g.canary} vs ${g.baseline}: ` +
    `${formatPercent(g.canaryRate)} vs ${formatPercent(g.baselineRate)}${change}: ${g.explanation}`
  );
}

/** One member of an incident group: "paid-drop [platform=ios] 12.0% vs 60.0% (−80%)", plus "resolved" when it is. */
export function memberText(m: GroupMember): string {
  const seg = m.segment ? ` [${m.segment}]` : '';
  const rates =
    typeof m.observedRate === 'number' && typeof m.expectedRate === 'number' && m.expectedRate > 0
      ? ` ${formatPercent(m.observedRate)} vs ${formatPercent(m.expectedRate)} ` +
        `(${formatSignedChange(m.observedRate / m.expectedRate - 1)})`
      : '';
  return `${m.rule}${seg}${rates}${m.status === 'resolved' ? ' — resolved' : ''}`.replace(/[\r\n\t]+/g, ' ');
}

/**
 * What the incident group adds to the headline of its worst member: the cause the drill-down names, and how many
 * other alerts it holds. "" for a group of one without a named cause.
 */
export function groupTail(g: GroupNotice | undefined): string {
  if (!g) return '';
  const others = g.members.length - 1;
  const parts: string[] = [];
  if (g.cause) parts.push(`cause: ${g.cause}`);
  else if (g.spread) parts.push('funnel-wide: no single segment explains it');
  if (others > 0) {
    const firing = g.firing - (g.members[0]?.status === 'firing' ? 1 : 0);
    const resolved = others - firing;
    const counts = [firing > 0 ? `${firing} firing` : '', resolved > 0 ? `${resolved} resolved` : '']
      .filter(Boolean)
      .join(', ');
    parts.push(`+${others} related alert${others === 1 ? '' : 's'} (${counts})`);
  }
  return parts.join('; ').replace(/[\r\n\t]+/g, ' ');
}
