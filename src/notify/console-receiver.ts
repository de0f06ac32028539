/**
 * The console receiver: one readable line per delivery job on the daemon's stdout, for trials and the demo, where
 * nobody has wired Slack or PagerDuty yet:
 *
 *   FIRING  checkout-conversion [platform=android]  conversion 41.2% vs expected 60.1% (−31%), … — critical → #payments
 *     likely cause: payments-service v2.3.1 deployed 12:01 UTC — 8 min before the onset
 *     where: payment_provider=stripe carries 92% of the deficit
 *     incident: cause: payment_provider=stripe; +1 related alert (1 firing)
 *     · checkout-conversion [payment_provider=stripe] 12.0% vs 60.0% (−80%)
 *   UPDATE  checkout-conversion …         (the incident's alerts changed: joined, resolved, got worse)
 *   STILL   checkout-conversion …         (a reminder)
 *   RESOLVED checkout-conversion …
 * DELIVERY FAILED receiver pd-checkout refused the firing of checkout-conversion [platform=android]: … (PAGERDUTY_400)
 * GATE FAIL checkout-canary: app_version 5.3.0 vs 5.2.0: 41.0% vs 60.3% (−32%, …): <why>   (a canary gate decided)
 *
 * It never fails: a console that cannot be written to is no reason to retry a job or raise a self-alert.
 */
import type { AlertTransition } from '../model/alert-transition.js';
import { formatTransitionLine } from './log-notifier.js';
import { formatClock, formatGateLine, groupTail, memberText, segmentText } from './format.js';
import type { DeliveryJob, DeliveryOutcome, Receiver } from './receiver.js';
import type { ConsoleReceiverDef } from '../rules/receiver-def.js';

/**
 * Control characters out: segment values, labels and reasons are free text from events and other systems, and an
 * escape sequence or newline in them could rewrite the operator's terminal or forge a line.
 */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}

/** formatTransitionLine with its 7-character label replaced: it pads the label to 7 and adds a space. */
function relabel(alert: AlertTransition, label: string): string {
  const line = formatTransitionLine({ ...alert, kind: 'firing' });
  return `${label.padEnd(7)} ${line.slice('FIRING '.length + 1)}`;
}

/** The indented lines about the likely cause, when the alert carries context. */
function contextLines(alert: AlertTransition): string[] {
  const ctx = alert.context;
  if (!ctx) return [];
  const out: string[] = [];
  if (ctx.deploys) {
    const top = ctx.deploys[0];
    if (top) {
      const env = top.environment ? ` (${top.environment})` : '';
      const more = ctx.deploys.length > 1 ? ` (+${ctx.deploys.length - 1} more)` : '';
      out.push(
        `  likely cause: ${top.service} ${top.version}${env} ` +
          `deployed ${formatClock(top.ts, alert.at)}${top.why ? ` — ${top.why}` : ''}${more}`,
      );
    } else {
      // An empty list means the deploy work looked and found nothing, which is itself worth saying.
      out.push('  likely cause: no deploy recorded near the onset');
    }
  }
  const dd = ctx.drilldown;
  if (dd && dd.classification !== 'no-deficit' && dd.summary) out.push(`  where: ${dd.summary}`);
  return out;
}

/** The incident group's lines: the tail (cause, related alerts) and every other member. */
function groupLines(job: DeliveryJob): string[] {
  const g = job.group;
  const tail = groupTail(g);
  if (!g || !tail) return [];
  return [`  incident: ${tail}`, ...g.members.filter((m) => m.key !== g.worst).map((m) => `    · ${memberText(m)}`)];
}

/** The lines the console receiver writes for `job`, without newlines. Pure. */
export function consoleLines(job: DeliveryJob): string[] {
  const a = job.alert;
  let lines: string[];
  switch (job.event) {
    case 'firing':
      lines = [formatTransitionLine({ ...a, kind: 'firing' }), ...contextLines(a), ...groupLines(job)];
      break;
    case 'resolved':
      lines = [formatTransitionLine({ ...a, kind: 'resolved' }), ...contextLines(a), ...groupLines(job)];
      break;
    case 'updated':
      lines = [relabel(a, 'UPDATE'), ...contextLines(a), ...groupLines(job)];
      break;
    case 'reminder':
      lines = [relabel(a, 'STILL'), ...contextLines(a), ...groupLines(job)];
      break;
    case 'delivery_failed': {
      const f = job.failure;
      const seg = segmentText(a.segment);
      const what = `${a.rule}${seg ? ` [${seg}]` : ''}`;
      lines = [
        f
          ? `DELIVERY FAILED  receiver ${f.receiver} refused the ${f.event} of ${what}: ${f.reason} (${f.code})`
          : `DELIVERY FAILED  a delivery for ${what} failed`,
      ];
      break;
    }
    case 'delivery_recovered': {
      const f = job.failure;
      lines = [
        `DELIVERY RECOVERED  receiver ${f?.receiver ?? '?'} delivers again` +
          (f ? ` (it had refused the ${f.event} of ${a.rule}: ${f.code})` : ''),
      ];
      break;
    }
    case 'gate_verdict':
      lines = job.gate ? [formatGateLine(job.gate)] : [`GATE ${a.rule}`];
      break;
    default:
      lines = [`${String(job.event).toUpperCase()} ${a.rule}`];
  }
  return lines.map(clean);
}

export interface ConsoleReceiverOptions {
  def: ConsoleReceiverDef;
  write: (line: string) => void;
}

export class ConsoleReceiver implements Receiver {
  readonly kind = 'console' as const;
  readonly name: string;

  constructor(private readonly o: ConsoleReceiverOptions) {
    this.name = o.def.name;
  }

  async deliver(job: DeliveryJob): Promise<DeliveryOutcome> {
    try {
      for (const line of consoleLines(job)) this.o.write(line);
    } catch {
      // A closed stdout (EPIPE) or a formatter bug: the other receivers still page; retrying would only repeat it.
    }
    return { ok: true };
  }
}
