/**
 * The log receiver: every alert transition as a structured log line (warn for firing, info otherwise), and, when
 * a `write` function is given, as one line a person reads on a console:
 *
 * FIRING checkout-conversion [platform=android] conversion 41.2% vs expected 60.1% (−31%), 1,234 checkouts in 15 min,
 * since 12:03 UTC — critical → #payments
 *
 * It is the only receiver until Slack and PagerDuty delivery land, and stays useful after: the demo prints its
 * lines, and the log keeps a record of what was notified.
 */
import { isPagingTransition } from '../model/alert-transition.js';
import type { AlertTransition } from '../model/alert-transition.js';
import type { Evidence } from '../model/evidence.js';
import type { Logger } from '../obs/logger.js';
import type { Notifier } from './notifier.js';
import { formatUnits } from './format.js';

const LABEL: Record<AlertTransition['kind'], string> = {
  firing: 'FIRING',
  resolved: 'RESOLVED',
  pending: 'PENDING',
  insufficient: 'NO DATA',
  recovered_data: 'DATA OK',
};

/** 1234567 → "1,234,567"; fixed to en-US grouping so lines do not depend on the host's locale. */
function int(n: number): string {
  if (!Number.isFinite(n)) return '?';
  const s = String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? `−${s}` : s;
}

function pct(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

/** A signed relative change with a true minus sign: "−31%", "+12%", "−0.4%". */
function signedChange(change: number): string {
  const p = Math.abs(change) * 100;
  const body = p >= 10 ? p.toFixed(0) : p.toFixed(1);
  if (body === '0' || body === '0.0') return '±0%';
  return `${change < 0 ? '−' : '+'}${body}%`;
}

function duration(minutes: number): string {
  if (!(minutes > 0)) return '';
  if (minutes % 1440 === 0) return `${minutes / 1440} d`;
  if (minutes % 60 === 0) return `${minutes / 60} h`;
  return `${Math.round(minutes)} min`;
}

/** A time as ISO text; null for what is not a valid time (a formatter must never throw on odd evidence). */
function isoOrNull(ms: number | null | undefined): string | null {
  return typeof ms === 'number' && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : null;
}

/** "12:03 UTC", with the date when it is not the day of `ref`. */
function clock(ms: number, ref: number): string {
  const iso = isoOrNull(ms);
  if (iso === null) return '?';
  const hm = `${iso.slice(11, 16)} UTC`;
  return iso.slice(0, 10) === isoOrNull(ref)?.slice(0, 10) ? hm : `${iso.slice(0, 10)} ${hm}`;
}

/** The change, observed against expected, for the rule's metric; "" when the evidence has no usable numbers. */
function comparison(t: AlertTransition, e: Evidence): string {
  const byRate = Number.isFinite(e.observedRate) && Number.isFinite(e.expectedRate) && e.expectedRate > 0;
  const byCount = Number.isFinite(e.observed) && Number.isFinite(e.expected) && e.expected > 0;
  // The sign comes from observed vs expected, not from relativeChange (which detectors sign by the bad direction).
  const change = byRate ? e.observedRate / e.expectedRate - 1 : byCount ? e.observed / e.expected - 1 : NaN;
  const paren = Number.isFinite(change) ? ` (${signedChange(change)})` : '';
  switch (t.metric) {
    case 'step_volume':
      return byCount ? `volume ${int(e.observed)} vs expected ${int(e.expected)}${paren}` : '';
    case 'step_duration':
      return byRate ? `slow share ${pct(e.observedRate)} vs expected ${pct(e.expectedRate)}${paren}` : '';
    default:
      if (byRate) return `conversion ${pct(e.observedRate)} vs expected ${pct(e.expectedRate)}${paren}`;
      return byCount ? `${int(e.observed)} vs expected ${int(e.expected)}${paren}` : '';
  }
}

/** One human-readable line for a transition (no trailing newline). Pure: the same transition, the same line. */
export function formatTransitionLine(t: AlertTransition): string {
  const head = `${LABEL[t.kind].padEnd(7)} ${t.rule}${t.segment ? ` [${t.segment.dimension}=${t.segment.value}]` : ''}`;
  const parts: string[] = [];
  const e = t.evidence;
  if (e?.guard) parts.push(e.guard.replace('_', ' ') + (e.reason ? `: ${e.reason}` : ''));
  if (e) {
    const cmp = comparison(t, e);
    const span = duration(e.windowMinutes);
    const vol = t.metric === 'step_volume' || !(e.volume > 0) ? '' : formatUnits(e.volume, t.funnel, t.countedFrom);
    const amount = [vol, span && `in ${span}`].filter(Boolean).join(' ');
    // "volume 812 vs expected 1,190 (−32%) in 1 h": a bare window reads as part of the comparison.
    if (cmp && !vol && span && !e.guard) parts.push(`${cmp} ${amount}`);
    else {
      if (cmp) parts.push(cmp);
      if (amount && !e.guard) parts.push(amount);
    }
    if (e.reason && !e.guard && (t.kind === 'insufficient' || !cmp)) parts.push(e.reason);
  }
  if (t.kind === 'firing' || t.kind === 'pending') parts.push(`since ${clock(e?.onset ?? t.at, t.at)}`);
  if (t.kind === 'resolved') parts.push(`at ${clock(t.at, t.at)}`);
  const route = `${t.severity}${t.notify.length > 0 ? ` → ${t.notify.join(', ')}` : ''}`;
  return `${head}${parts.length > 0 ? `  ${parts.join(', ')}` : ''} — ${route}`;
}

export interface LogNotifierOptions {
  logger: Logger;
  /** Console receiver: gets one readable line per transition (formatTransitionLine). Default: none. */
  write?: (line: string) => void;
}

export class LogNotifier implements Notifier {
  private readonly log: Logger;

  constructor(private readonly o: LogNotifierOptions) {
    this.log = o.logger.child({ component: 'notify', receiver: 'log' });
  }

  async notify(t: AlertTransition): Promise<void> {
    const e = t.evidence;
    const fields = {
      transition: t.id,
      kind: t.kind,
      rule: t.rule,
      funnel: t.funnel,
      segment: t.segment,
      severity: t.severity,
      notify: t.notify,
      incidentId: t.incidentId,
      from: t.from,
      to: t.to,
      at: isoOrNull(t.at),
      ruleSetVersion: t.ruleSetVersion,
      owner: t.owner,
      runbook: t.runbook,
      labels: t.labels,
      evidence: e && {
        observed: e.observed,
        expected: e.expected,
        observedRate: e.observedRate,
        expectedRate: e.expectedRate,
        relativeChange: e.relativeChange,
        volume: e.volume,
        windowMinutes: e.windowMinutes,
        statistic: e.statistic,
        threshold: e.threshold,
        pValue: e.pValue,
        chanceRatePerWeek: e.chanceRatePerWeek,
        onset: isoOrNull(e.onset),
        baseline: e.baseline,
        guard: e.guard,
        reason: e.reason,
      },
    };
    const msg = `alert ${t.kind}: ${t.rule}${t.segment ? ` [${t.segment.dimension}=${t.segment.value}]` : ''}`;
    // Only pages are news: thousands of segment series move in and out of 'insufficient' at night, and that
    // belongs in debug logs, not in the on-call's console.
    if (t.kind === 'firing') this.log.warn(fields, msg);
    else if (isPagingTransition(t.kind)) this.log.info(fields, msg);
    else this.log.debug(fields, msg);
    if (isPagingTransition(t.kind)) this.o.write?.(formatTransitionLine(t));
  }

  async close(): Promise<void> {}
}
