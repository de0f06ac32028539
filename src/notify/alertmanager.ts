/**
 * The `alertmanager` receiver: pushes funnelwatch's alerts to an existing Prometheus Alertmanager through its API v2
 * (`POST <url>/api/v2/alerts`, a JSON array of postable alerts, alertmanager-format.ts), so a team keeps its
 * routing, silences, inhibition and on-call integrations. Alertmanager expects clients to re-send firing alerts
 * regularly (an alert not re-sent within its resolve_timeout ends on its own) and to send resolved ones with
 * `endsAt`: this receiver's incident groups notify every minute while active (group_wait 0, group_interval and
 * repeat_interval 1 min, receiverGrouping), each time with every alert of the group, and the resolve carries
 * `endsAt` on every alert.
 *
 * Answers: 200 ok; 400 permanent (Alertmanager refuses the same alerts again; its message is in the reason);
 * 408, 429, 5xx and network errors retriable.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { JsonPoster, safeOrigin } from '../core/outbound-http.js';
import { VERSION } from '../core/version.js';
import type { Logger } from '../obs/logger.js';
import type { AlertmanagerReceiverDef } from '../rules/receiver-def.js';
import { postableAlerts } from './alertmanager-format.js';
import type { DeliveryJob, DeliveryOutcome, Receiver } from './receiver.js';
import { classifyHttpAnswer } from './webhook.js';

export interface AlertmanagerReceiverOptions {
  def: AlertmanagerReceiverDef;
  logger: Logger;
  timeoutMs?: number;
  clock?: Clock;
}

export class AlertmanagerReceiver implements Receiver {
  readonly kind = 'alertmanager' as const;
  readonly name: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly http: JsonPoster;

  constructor(private readonly o: AlertmanagerReceiverOptions) {
    this.name = o.def.name;
    this.http = new JsonPoster('ALERTMANAGER', o.timeoutMs ?? 10_000);
    this.clock = o.clock ?? systemClock;
    this.log = o.logger.child({ component: 'notify', receiver: o.def.name, kind: 'alertmanager' });
  }

  /** `<url>/api/v2/alerts`, whatever path prefix the Alertmanager is served under. */
  endpoint(): URL {
    const u = new URL(this.o.def.url);
    u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/v2/alerts`;
    return u;
  }

  async deliver(job: DeliveryJob): Promise<DeliveryOutcome> {
    const url = this.endpoint();
    const origin = safeOrigin(url.toString());
    const body = JSON.stringify(postableAlerts(job, this.o.def.externalUrl ?? ''));
    const res = await this.http.post(url, body, { 'user-agent': `funnelwatch/${VERSION}` });
    if (!res.ok) return res;
    const outcome = classifyHttpAnswer(res, origin, 'ALERTMANAGER', this.clock.now());
    if (outcome.ok) this.log.debug({ job: job.id, event: job.event, origin }, 'alerts pushed to Alertmanager');
    return outcome;
  }

  async check(): Promise<string[]> {
    try {
      const u = new URL(this.o.def.url);
      if (u.protocol === 'http:' || u.protocol === 'https:') return [];
      return [`receiver ${this.name}: the url must be http(s), got ${u.protocol}`];
    } catch {
      return [`receiver ${this.name}: the url is not a valid URL`];
    }
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
