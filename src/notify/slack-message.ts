/**
 * Slack Block Kit for alert deliveries, as pure functions: the incident group's parent message (posted on firing,
 * updated in place on updated and resolved, listing every member of the group), the thread replies (updated,
 * reminder, resolved) and the self-alert for a delivery another receiver refused.
 *
 * Every block goes through a validating builder that enforces Slack's limits (header 150, section text 3000,
 * ≤ 10 fields of ≤ 2000, context ≤ 10 elements, ≤ 50 blocks, fallback text 4000; see
 * ../shared/research/alerting.md §2.3) by cutting per field with "…", and reports what it cut: Slack answers an
 * over-long block with `invalid_blocks`, which is permanent, so one long segment value would otherwise lose a page.
 * Lengths are measured in UTF-16 units and cut on code point boundaries (truncateUtf16), which fits whichever
 * way Slack counts "characters".
 *
 * Rule names, segment values, labels, descriptions and deploy details come from rule files and event data, so
 * they are escaped (&, <, >) before they enter mrkdwn: a segment value of `<!channel>` must not ping a channel.
 * Header text is plain_text, which Slack shows literally, so it is not escaped.
 */
import type { AlertTransition } from '../model/alert-transition.js';
import type { DeploySuspect, DrilldownSummary } from '../model/alert-context.js';
import type { Evidence } from '../model/evidence.js';
import type { DeliveryEvent, DeliveryJob } from './receiver.js';
import {
  groupTail,
  memberText,
  comparisonText,
  fillDashboardUrl,
  formatClock,
  formatCount,
  formatGateLine,
  formatPercent,
  formatSignedChange,
  formatUnits,
  formatUtc,
  formatWindow,
  headline,
  incidentStart,
  observedChange,
  segmentText,
} from './format.js';
import { formatDuration, truncateUtf16 } from '../core/text.js';

export const SLACK_LIMITS = {
  headerText: 150,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  contextElements: 10,
  /** Slack documents no separate cap for context elements; text objects in general stop at 3000. Kept lower. */
  contextText: 2000,
  blocks: 50,
  fallbackText: 4000,
} as const;

export type SlackText = { type: 'plain_text'; text: string; emoji: true } | { type: 'mrkdwn'; text: string };

export type SlackBlock =
  | { type: 'header'; text: { type: 'plain_text'; text: string; emoji: true } }
  | { type: 'section'; text?: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] }
  | { type: 'divider' };

export interface SlackMessage {
  /** The fallback text: notifications, screen readers, and clients that cannot show blocks. */
  text: string;
  blocks: SlackBlock[];
  /** What the builder cut to fit Slack's limits, e.g. "header", "summary.fields[5]", "blocks"; empty when nothing. */
  truncated: string[];
}

export interface SlackMessageOptions {
  /** Dashboard link template; `{funnel}`, `{rule}` and `{segment}` are filled in. */
  dashboardUrl?: string;
  /** When the incident fired (ms), used when the incident id does not carry it (e.g. the record's openedAt). */
  firedAt?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Escaping and fitting

/** Slack's three control characters in mrkdwn; everything else is shown as typed. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Escaped mrkdwn cut to `max`. The cut backs off so it never leaves half an entity (`&am…`) or an unclosed link
 * (`<https://…`), which Slack would render as garbage or reject.
 */
export function fitMrkdwn(s: string, max: number): { text: string; truncated: boolean } {
  const cut = truncateUtf16(s, max);
  if (!cut.truncated) return cut;
  let t = cut.text.slice(0, -1); // without the ellipsis
  const amp = t.lastIndexOf('&');
  if (amp >= 0 && t.indexOf(';', amp) < 0) t = t.slice(0, amp);
  const lt = t.lastIndexOf('<');
  if (lt >= 0 && t.indexOf('>', lt) < 0) t = t.slice(0, lt);
  return { text: `${t}…`, truncated: true };
}

/**
 * Only plain http(s) URLs become links: other schemes are not for clicking from a page, and `|`, `>` break the
 * syntax.
 */
function isLinkable(url: string): boolean {
  return /^https?:\/\/[^\s<>|]+$/i.test(url);
}

/** A mrkdwn link when `url` is a plain http(s) URL; otherwise the escaped text (a broken link hides the value). */
export function mrkdwnLink(url: string, label: string): string {
  if (!isLinkable(url)) return escapeMrkdwn(url);
  return `<${url.replace(/&/g, '&amp;')}|${escapeMrkdwn(label)}>`;
}

/** Inline code with no way out of the backticks. */
function code(s: string): string {
  return `\`${escapeMrkdwn(s.replace(/`/g, "'").replace(/[\r\n]+/g, ' '))}\``;
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').trim();
}

/**
 * Collects blocks and enforces Slack's limits as they are added, recording every cut under the block's name.
 * Empty texts are dropped rather than sent: Slack requires at least one character in a text object.
 */
export class BlockKitBuilder {
  private readonly blocks: SlackBlock[] = [];
  private readonly cuts: string[] = [];

  header(name: string, text: string): this {
    const fit = truncateUtf16(oneLine(text) || 'funnelwatch', SLACK_LIMITS.headerText);
    if (fit.truncated) this.cuts.push(name);
    this.blocks.push({ type: 'header', text: { type: 'plain_text', text: fit.text, emoji: true } });
    return this;
  }

  /** A section of mrkdwn text and/or mrkdwn fields (shown two per row). */
  section(name: string, text: string, fields: string[] = []): this {
    const block: Extract<SlackBlock, { type: 'section' }> = { type: 'section' };
    if (text.trim() !== '')
      block.text = { type: 'mrkdwn', text: this.fit(`${name}.text`, text, SLACK_LIMITS.sectionText) };
    const kept = fields.filter((f) => f.trim() !== '');
    if (kept.length > SLACK_LIMITS.sectionFields) this.cuts.push(`${name}.fields`);
    const shown = kept.slice(0, SLACK_LIMITS.sectionFields);
    if (shown.length > 0) {
      block.fields = shown.map((f, i) => ({
        type: 'mrkdwn' as const,
        text: this.fit(`${name}.fields[${i}]`, f, SLACK_LIMITS.fieldText),
      }));
    }
    if (block.text || block.fields) this.blocks.push(block);
    return this;
  }

  context(name: string, elements: string[]): this {
    const kept = elements.filter((e) => e.trim() !== '');
    if (kept.length > SLACK_LIMITS.contextElements) this.cuts.push(`${name}.elements`);
    const shown = kept.slice(0, SLACK_LIMITS.contextElements);
    if (shown.length > 0) {
      this.blocks.push({
        type: 'context',
        elements: shown.map((e, i) => ({
          type: 'mrkdwn' as const,
          text: this.fit(`${name}.elements[${i}]`, e, SLACK_LIMITS.contextText),
        })),
      });
    }
    return this;
  }

  divider(): this {
    this.blocks.push({ type: 'divider' });
    return this;
  }

  /** The message, with `fallback` (escaped mrkdwn) as its text. */
  build(fallback: string): SlackMessage {
    const truncated = [...this.cuts];
    let blocks = this.blocks;
    if (blocks.length > SLACK_LIMITS.blocks) {
      truncated.push('blocks');
      blocks = blocks.slice(0, SLACK_LIMITS.blocks);
    }
    const text = fitMrkdwn(oneLine(fallback) || 'funnelwatch alert', SLACK_LIMITS.fallbackText);
    if (text.truncated) truncated.push('text');
    return { text: text.text, blocks, truncated };
  }

  private fit(name: string, text: string, max: number): string {
    const fit = fitMrkdwn(text, max);
    if (fit.truncated) this.cuts.push(name);
    return fit.text;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Wording

const STATE: Record<
  Exclude<DeliveryEvent, 'delivery_failed' | 'delivery_recovered' | 'gate_verdict'>,
  { label: string; emoji: string }
> = {
  firing: { label: 'FIRING', emoji: ':red_circle:' },
  updated: { label: 'FIRING', emoji: ':rotating_light:' },
  reminder: { label: 'FIRING', emoji: ':red_circle:' },
  resolved: { label: 'RESOLVED', emoji: ':large_green_circle:' },
};

/** How many deploys "Likely cause" lists; more is noise for the person paged. */
const MAX_DEPLOYS = 3;
const MAX_DRILL_DIMENSIONS = 3;
const MAX_DRILL_VALUES = 3;

function finite(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

function ruleAndSegment(alert: AlertTransition): string {
  const seg = segmentText(alert.segment);
  return `${alert.rule}${seg ? ` [${seg}]` : ''}`;
}

/** What changed, or what stands in for it: the guard, the reason, or nothing. Raw text. */
function whatText(alert: AlertTransition): string {
  const e = alert.evidence;
  return oneLine(comparisonText(alert.metric, e) || (e?.guard ? e.guard.replace('_', ' ') : '') || (e?.reason ?? ''));
}

/** Observed and expected as the rule's metric reads them. */
function observedExpected(alert: AlertTransition): [string, string] {
  const e = alert.evidence;
  if (!e) return ['?', '?'];
  const byRate = finite(e.observedRate) && finite(e.expectedRate);
  if (alert.metric === 'step_volume' || !byRate) return [formatCount(e.observed), formatCount(e.expected)];
  return [formatPercent(e.observedRate), formatPercent(e.expectedRate)];
}

function volumeText(alert: AlertTransition): string {
  const e = alert.evidence;
  if (!e) return '?';
  const span = formatWindow(e.windowMinutes);
  const amount =
    alert.metric === 'step_volume' || !(finite(e.volume) && e.volume > 0)
      ? ''
      : formatUnits(e.volume, alert.funnel, alert.countedFrom);
  return [amount, span && `in ${span}`].filter(Boolean).join(' ') || '?';
}

function startOf(alert: AlertTransition, opts: SlackMessageOptions): number | undefined {
  return incidentStart(alert) ?? (finite(opts.firedAt) ? opts.firedAt : undefined);
}

/** When the drop began: the detector's onset, else the firing time. */
function onsetOf(alert: AlertTransition, opts: SlackMessageOptions): number | undefined {
  const onset = alert.evidence?.onset;
  return finite(onset) ? onset : startOf(alert, opts);
}

function lasted(alert: AlertTransition, opts: SlackMessageOptions): string {
  const start = startOf(alert, opts) ?? alert.evidence?.onset ?? undefined;
  return finite(start) ? formatDuration(alert.at - start) : '?';
}

function baselineText(e: Evidence | undefined): string {
  const b = e?.baseline;
  if (!b) return '';
  const weeks = finite(b.weeksUsed) ? ` (${b.weeksUsed} week${b.weeksUsed === 1 ? '' : 's'})` : '';
  return `${b.kind}${weeks}${b.fallback ? `, fallback: ${b.fallback}` : ''}`;
}

function deployLine(d: DeploySuspect, ref: number): string {
  const version = d.url && isLinkable(d.url) ? mrkdwnLink(d.url, d.version) : escapeMrkdwn(d.version);
  const where = d.environment ? ` in ${escapeMrkdwn(d.environment)}` : '';
  const who = [d.author && `by ${escapeMrkdwn(d.author)}`, d.commit && code(d.commit.slice(0, 12))]
    .filter(Boolean)
    .join(', ');
  const why = d.why ? `: ${escapeMrkdwn(oneLine(d.why))}` : '';
  return (
    `• *${escapeMrkdwn(oneLine(d.service))}* ${version}${where}, ` +
    `${formatClock(d.ts, ref)}${who ? ` (${who})` : ''}${why}`
  );
}

function likelyCause(alert: AlertTransition, ref: number): string {
  const deploys = (alert.context?.deploys ?? []).slice(0, MAX_DEPLOYS);
  if (deploys.length === 0) return '*Likely cause*\nNo deploy recorded near the onset';
  return `*Likely cause*\n${deploys.map((d) => deployLine(d, ref)).join('\n')}`;
}

function drilldownText(d: DrilldownSummary): string {
  const lines = [escapeMrkdwn(oneLine(d.summary || d.classification))];
  for (const dim of d.dimensions.slice(0, MAX_DRILL_DIMENSIONS)) {
    for (const v of dim.top.slice(0, MAX_DRILL_VALUES)) {
      const share = finite(v.deficitShare) ? `${Math.round(v.deficitShare * 100)}% of the deficit` : 'share unknown';
      const how = v.rateChanged ? 'its rate moved' : 'only its share of traffic moved';
      lines.push(`• ${escapeMrkdwn(oneLine(`${dim.dimension}=${v.value}`))}: ${share} (${how})`);
    }
  }
  return lines.join('\n');
}

function where(alert: AlertTransition): string {
  const d = alert.context?.drilldown;
  return `*Where*\n${d ? drilldownText(d) : 'Drill-down not available'}`;
}

function incidentFields(alert: AlertTransition, event: DeliveryEvent, opts: SlackMessageOptions): string[] {
  const [obs, exp] = observedExpected(alert);
  const seg = segmentText(alert.segment);
  const fields = [
    `*Observed*\n${obs}`,
    `*Expected*\n${exp}`,
    `*Change*\n${formatSignedChange(observedChange(alert.evidence, alert.metric)) || '?'}`,
    `*Volume*\n${escapeMrkdwn(volumeText(alert))}`,
    event === 'resolved'
      ? `*Lasted*\n${lasted(alert, opts)} (resolved ${formatUtc(alert.at)})`
      : `*Since*\n${formatUtc(onsetOf(alert, opts))}`,
    `*Segment*\n${seg ? escapeMrkdwn(seg) : 'whole funnel'}`,
    `*Severity*\n${escapeMrkdwn(alert.severity)}`,
    `*Owner*\n${alert.owner ? escapeMrkdwn(alert.owner) : '—'}`,
    `*Runbook*\n${alert.runbook ? mrkdwnLink(alert.runbook, 'Open runbook') : '—'}`,
  ];
  if (opts.dashboardUrl)
    fields.push(`*Dashboard*\n${mrkdwnLink(fillDashboardUrl(opts.dashboardUrl, alert), 'Open dashboard')}`);
  return fields;
}

function contextElements(alert: AlertTransition): string[] {
  const labels = Object.entries(alert.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const window = formatWindow(alert.evidence?.windowMinutes);
  return [
    `Rule: *${escapeMrkdwn(alert.rule)}*`,
    `Funnel: ${escapeMrkdwn(alert.funnel)}`,
    baselineText(alert.evidence) && `Baseline: ${escapeMrkdwn(baselineText(alert.evidence))}`,
    window && `Window: ${window}`,
    alert.incidentId ? `Incident: ${code(alert.incidentId)}` : '',
    `Rule set: ${code(alert.ruleSetVersion)}`,
    labels && `Labels: ${escapeMrkdwn(labels)}`,
  ];
}

function summaryText(alert: AlertTransition, event: DeliveryEvent, opts: SlackMessageOptions): string {
  const what = whatText(alert);
  const desc = alert.description ? `\n${escapeMrkdwn(alert.description)}` : '';
  if (event === 'resolved') {
    return `*Back to normal* after ${lasted(alert, opts)}${what ? `: now ${escapeMrkdwn(what)}` : ''}${desc}`;
  }
  const lead = what ? `*${escapeMrkdwn(what)}*` : `*${escapeMrkdwn(alert.rule)}*`;
  return `${lead}, since ${formatClock(onsetOf(alert, opts), alert.at)}${desc}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

/**
 * The message for a job: the incident's parent message (firing, updated, reminder and resolved show the state in
 * the header), or, for `delivery_failed` and `delivery_recovered`, the self-alert (its recovery replaces it).
 */
export function slackMessage(job: DeliveryJob, opts: SlackMessageOptions = {}): SlackMessage {
  if (job.event === 'delivery_failed' || job.event === 'delivery_recovered') return failureMessage(job);
  if (job.event === 'gate_verdict') return gateMessage(job);
  const alert = job.alert;
  const state = STATE[job.event];
  const b = new BlockKitBuilder()
    .header('header', `${state.emoji} ${state.label}: ${ruleAndSegment(alert)}`)
    .section('summary', summaryText(alert, job.event, opts), incidentFields(alert, job.event, opts))
    .section('likely-cause', likelyCause(alert, onsetOf(alert, opts) ?? alert.at))
    .section('where', where(alert))
    .section('incident', incidentText(job))
    .context('context', contextElements(alert));
  const tail = job.event === 'resolved' ? ` (lasted ${lasted(alert, opts)})` : '';
  const group = groupTail(job.group);
  return b.build(`${state.label}: ${escapeMrkdwn(headline(alert))}${tail}${group ? ` — ${escapeMrkdwn(group)}` : ''}`);
}

/** How many members the parent message lists; the rest are counted. */
const MAX_MEMBERS = 15;

/** The incident group: the cause it names, and its members, worst first (empty for a group of one). */
function incidentText(job: DeliveryJob): string {
  const g = job.group;
  const tail = groupTail(g);
  if (!g || !tail) return '';
  const lines = g.members
    .slice(0, MAX_MEMBERS)
    .map((m) => `${m.status === 'firing' ? ':red_circle:' : ':large_green_circle:'} ${escapeMrkdwn(memberText(m))}`);
  if (g.members.length > MAX_MEMBERS) lines.push(`…and ${g.members.length - MAX_MEMBERS} more`);
  return `*Incident*: ${escapeMrkdwn(tail)}\n${lines.join('\n')}`;
}

/** The names of group members by alertKey, for thread replies ("paid-drop [platform=ios]"). */
function memberNames(job: DeliveryJob, keys: readonly string[]): string {
  const byKey = new Map((job.group?.members ?? []).map((m) => [m.key, m]));
  return keys
    .map((k) => byKey.get(k))
    .filter((m) => m !== undefined)
    .map((m) => `${m.rule}${m.segment ? ` [${m.segment}]` : ''}`)
    .join(', ');
}

/**
 * The thread reply for updated, reminder and resolved. It names the rule and segment, so it still reads right
 * when it has to be posted top-level (a locked thread, a deleted parent).
 */
export function slackThreadReply(job: DeliveryJob, opts: SlackMessageOptions = {}): SlackMessage {
  const alert = job.alert;
  const who = `*${escapeMrkdwn(ruleAndSegment(alert))}*`;
  const what = escapeMrkdwn(whatText(alert));
  const now = finite(job.createdAt) ? job.createdAt : alert.at;
  let line: string;
  switch (job.event) {
    case 'updated': {
      const joined = memberNames(job, job.group?.joined ?? []);
      const left = memberNames(job, job.group?.left ?? []);
      const parts = [
        joined && `now also firing: ${escapeMrkdwn(joined)}`,
        left && `resolved: ${escapeMrkdwn(left)}`,
        job.group?.severityRose && `severity now ${escapeMrkdwn(alert.severity)}`,
      ].filter(Boolean);
      line =
        `:rotating_light: Incident updated at ${formatClock(now, now)}: ${parts.join('; ') || 'the drop grew'}. ` +
        `Worst: ${who}${what ? ` ${what}` : ''}`;
      break;
    }
    case 'reminder': {
      const since = onsetOf(alert, opts);
      const lastedSoFar = finite(since) ? ` (${formatDuration(now - since)})` : '';
      line =
        `:hourglass_flowing_sand: ${who} still firing since ${formatClock(since, now)}` +
        `${lastedSoFar}${what ? `, now ${what}` : ''}`;
      break;
    }
    case 'resolved':
      line =
        `:large_green_circle: ${who} resolved at ${formatClock(alert.at, alert.at)} ` +
        `after ${lasted(alert, opts)}${what ? `; now ${what}` : ''}`;
      break;
    default:
      line = `${who}: ${what || escapeMrkdwn(job.event)}`;
  }
  return new BlockKitBuilder().section('reply', line).build(line);
}

/** The self-alert: which receiver refused which job, and why, so someone checks that the page arrived elsewhere. */
/** A canary gate's decision: one message (not an incident; nothing follows in a thread). */
function gateMessage(job: DeliveryJob): SlackMessage {
  const g = job.gate;
  if (!g) return new BlockKitBuilder().header('header', `GATE ${job.alert.rule}`).build(`GATE ${job.alert.rule}`);
  const pass = g.verdict === 'pass';
  const line = formatGateLine(g);
  return new BlockKitBuilder()
    .header('header', `${pass ? ':large_green_circle:' : ':red_circle:'} GATE ${g.verdict.toUpperCase()}: ${g.gate}`)
    .section('summary', escapeMrkdwn(line), [
      `*Canary*\n${escapeMrkdwn(`${g.splitBy}=${g.canary}`)}`,
      `*Baseline*\n${escapeMrkdwn(`${g.splitBy}=${g.baseline}`)}`,
      `*Verdict*\n${escapeMrkdwn(g.verdict)} (${code(g.reason)})`,
      `*Funnel*\n${escapeMrkdwn(g.funnel)}`,
    ])
    .context('context', [`Evidence: ${code(g.evidencePath)}`, ...(g.owner ? [`Owner: ${escapeMrkdwn(g.owner)}`] : [])])
    .build(escapeMrkdwn(line));
}

function failureMessage(job: DeliveryJob): SlackMessage {
  const f = job.failure;
  const receiver = f?.receiver ?? 'unknown';
  const alert = job.alert;
  const recovered = job.event === 'delivery_recovered';
  // A job given up after the give-up time was not refused: the receiver kept failing (timeouts, 5xx, 429).
  const verb = f?.code === 'DELIVERY_GAVE_UP' ? 'could not take' : 'permanently refused';
  const refused =
    `The ${code(receiver)} receiver ${verb} a ${escapeMrkdwn(f?.event ?? 'notification')} ` +
    `for ${escapeMrkdwn(ruleAndSegment(alert))}`;
  const lead = recovered
    ? `*The ${code(receiver)} receiver delivers again.* ${refused} earlier: check that page.`
    : `*${refused}: a page may be missing.*`;
  if (recovered)
    return new BlockKitBuilder()
      .header('header', `:large_green_circle: DELIVERY RECOVERED: ${receiver}`)
      .section('summary', `${lead}\n${escapeMrkdwn(f?.reason ?? 'no reason recorded')}`, [
        `*Receiver*\n${escapeMrkdwn(receiver)}`,
        `*Code*\n${f ? code(f.code) : '?'}`,
      ])
      .context('context', ['funnelwatch self-alert', `Self-alert job: ${code(job.id)}`])
      .build(`DELIVERY RECOVERED: ${escapeMrkdwn(receiver)} delivers again`);
  return new BlockKitBuilder()
    .header('header', `:warning: DELIVERY FAILED: ${receiver}`)
    .section('summary', `${lead}\n${escapeMrkdwn(f?.reason ?? 'no reason recorded')}`, [
      `*Receiver*\n${escapeMrkdwn(receiver)}`,
      `*Code*\n${f ? code(f.code) : '?'}`,
      `*Event*\n${escapeMrkdwn(f?.event ?? '?')}`,
      `*Job*\n${f ? code(f.jobId) : '?'}`,
      `*Alert*\n${escapeMrkdwn(headline(alert))}`,
      `*Severity*\n${escapeMrkdwn(alert.severity)}`,
    ])
    .context('context', ['funnelwatch self-alert', `Self-alert job: ${code(job.id)}`])
    .build(
      `DELIVERY FAILED: ${escapeMrkdwn(receiver)} refused ${escapeMrkdwn(f?.event ?? 'a job')} for ` +
        `${escapeMrkdwn(ruleAndSegment(alert))} (${escapeMrkdwn(f?.code ?? '?')})`,
    );
}
