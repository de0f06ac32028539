/**
 * From receiver definitions (the rule directory's `receivers:`) to live Receivers, and keeping them across rule
 * reloads: a receiver whose definition did not change is the same object after a reload (its connection pool and
 * Slack pacing survive), a changed one is replaced and the old one closed, a removed one closed. The built-in
 * `console` always exists.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../obs/logger.js';
import { errorMessage } from '../core/errors.js';
import { ConsoleReceiver } from './console-receiver.js';
import { PagerDutyReceiver } from './pagerduty.js';
import type { Receiver } from './receiver.js';
import { BUILTIN_CONSOLE, type ReceiverDef } from '../rules/receiver-def.js';
import { SlackReceiver } from './slack.js';
import { WebhookReceiver } from './webhook.js';
import { AlertmanagerReceiver } from './alertmanager.js';
import type { ReceiverFacts } from './receiver-facts.js';

export interface ReceiverFactoryOptions {
  logger: Logger;
  clock?: Clock;
  /** Slack Web API base (tests and proxies); default https://slack.com/api/. */
  slackApiUrl?: string;
  /** PagerDuty Events API base; default https://events.pagerduty.com. */
  pagerDutyUrl?: string;
  timeoutMs?: number;
  /** Where secrets in `{ env }` references are read; default process.env. */
  env?: Record<string, string | undefined>;
  /** Where the console receiver writes; default stdout. */
  write?: (line: string) => void;
  /** Where receivers keep what they learn across restarts (a Slack channel's id); default nowhere (memory). */
  facts?: ReceiverFacts;
}

export type ReceiverFactory = (def: ReceiverDef) => Receiver;

export function receiverFactory(o: ReceiverFactoryOptions): ReceiverFactory {
  const write = o.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const common = {
    logger: o.logger,
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.env ? { env: o.env } : {}),
  };
  return (def) => {
    switch (def.kind) {
      case 'slack':
        return new SlackReceiver({
          def,
          ...common,
          ...(o.slackApiUrl ? { apiUrl: o.slackApiUrl } : {}),
          ...(o.facts ? { facts: o.facts } : {}),
        });
      case 'pagerduty':
        return new PagerDutyReceiver({
          def,
          ...common,
          ...(o.pagerDutyUrl ? { baseUrl: o.pagerDutyUrl } : {}),
          ...(o.clock ? { clock: o.clock } : {}),
        });
      case 'webhook':
        return new WebhookReceiver({ def, ...common, ...(o.clock ? { clock: o.clock } : {}) });
      case 'alertmanager':
        return new AlertmanagerReceiver({ def, ...common, ...(o.clock ? { clock: o.clock } : {}) });
      case 'console':
        return new ConsoleReceiver({ def, write });
    }
  };
}

export class ReceiverRegistry {
  private live = new Map<string, { sig: string; receiver: Receiver }>();

  constructor(
    private readonly make: ReceiverFactory,
    private readonly logger: Logger,
  ) {
    this.update([]);
  }

  /** The receivers by name (console included). */
  get(): ReadonlyMap<string, Receiver> {
    return new Map([...this.live].map(([k, v]) => [k, v.receiver]));
  }

  /** Applies a new set of definitions; returns the receivers that are new or changed (to check them). */
  update(defs: readonly ReceiverDef[]): Receiver[] {
    const next = new Map<string, { sig: string; receiver: Receiver }>();
    const fresh: Receiver[] = [];
    for (const def of [BUILTIN_CONSOLE, ...defs]) {
      const { source: _where, ...rest } = def;
      const sig = JSON.stringify(rest);
      const old = this.live.get(def.name);
      if (old && old.sig === sig) next.set(def.name, old);
      else {
        const receiver = this.make(def);
        next.set(def.name, { sig, receiver });
        fresh.push(receiver);
      }
    }
    for (const [name, old] of this.live) {
      if (next.get(name)?.receiver !== old.receiver) void this.close(old.receiver);
    }
    this.live = next;
    return fresh;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.live.values()].map((v) => this.close(v.receiver)));
    this.live.clear();
  }

  private async close(r: Receiver): Promise<void> {
    try {
      await r.close?.();
    } catch (err) {
      this.logger.warn({ receiver: r.name, err: errorMessage(err) }, 'closing a receiver failed');
    }
  }
}
